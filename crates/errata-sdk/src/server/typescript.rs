//! The TypeScript server package's templates, rendered from the [`ServerModel`].

use minijinja::Error;

use super::ServerModel;
use crate::File;
use crate::render::{Entry, render_all};

const FILES: &[Entry] = &[(
    "sts/package.json",
    "package.json",
    include_str!("../../templates/server-typescript/package.json"),
)];

pub(super) fn render(model: &ServerModel) -> Result<Vec<File>, Error> {
    render_all(FILES, model, "")
}
