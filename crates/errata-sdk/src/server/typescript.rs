//! The TypeScript server package's templates, rendered from the [`ServerModel`]: ESM
//! JavaScript beside hand-written-quality `.d.ts` declarations, no build step and no runtime
//! dependency.
//!
//! | file | what it holds |
//! |---|---|
//! | `catalog.js` | the catalog's data, as the renderer reads it |
//! | `render.js` | the port of errata-core's renderer: envelope, problem+json, request ids |
//! | `errors.js` | the base error class, one class per code, and the mapping of foreign errors |
//! | `express.js` | `requestId()`, `notFound()` and `errorHandler()` middleware for Express |
//! | `hono.js` | `requestId()`, `notFound()` and `onError()` for Hono |

use minijinja::Error;

use super::ServerModel;
use crate::File;
use crate::render::{Entry, render_all};

macro_rules! entry {
    ($file:literal) => {
        (
            concat!("sts/", $file),
            $file,
            include_str!(concat!("../../templates/server-typescript/", $file)),
        )
    };
}

const FILES: &[Entry] = &[
    entry!("package.json"),
    entry!("README.md"),
    entry!("index.js"),
    entry!("index.d.ts"),
    entry!("catalog.js"),
    entry!("catalog.d.ts"),
    entry!("render.js"),
    entry!("render.d.ts"),
    entry!("errors.js"),
    entry!("errors.d.ts"),
    entry!("express.js"),
    entry!("express.d.ts"),
    entry!("hono.js"),
    entry!("hono.d.ts"),
];

pub(super) fn render(model: &ServerModel) -> Result<Vec<File>, Error> {
    render_all(FILES, model, "")
}
