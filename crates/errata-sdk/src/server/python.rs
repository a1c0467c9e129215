//! The Python server package's templates, rendered from the [`ServerModel`].

use minijinja::Error;

use super::ServerModel;
use crate::File;
use crate::render::{Entry, render_all};

const FILES: &[Entry] = &[
    (
        "spy/pyproject.toml",
        "pyproject.toml",
        include_str!("../../templates/server-python/pyproject.toml"),
    ),
    ("spy/py.typed", "src/{pkg}/py.typed", ""),
];

pub(super) fn render(model: &ServerModel) -> Result<Vec<File>, Error> {
    render_all(FILES, model, &model.package)
}
