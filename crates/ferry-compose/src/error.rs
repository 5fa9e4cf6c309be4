//! The crate's error: what is wrong with a compose file (and which file), or why it could not be
//! read. Converts into [`FerryError`] for the API and the CLI.

use ferry_types::FerryError;
use std::io;
use std::path::{Path, PathBuf};

/// Why a compose project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The file's content is invalid. The message names the key (`services.web.ports[0]`),
    /// says why, and what to do.
    #[error("{}{message}", file_prefix(.file.as_deref()))]
    Invalid {
        /// The compose file, when the project was loaded from one.
        file: Option<PathBuf>,
        /// What is wrong, starting with the key's path.
        message: String,
    },
    /// A file (the compose file, `.env` or an `env_file`) could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
}

fn file_prefix(file: Option<&Path>) -> String {
    file.map(|f| format!("{}: ", f.display()))
        .unwrap_or_default()
}

impl ComposeError {
    /// The message without the file name.
    pub fn message(&self) -> String {
        match self {
            ComposeError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

impl From<ComposeError> for FerryError {
    fn from(e: ComposeError) -> Self {
        match &e {
            ComposeError::Invalid { .. } => FerryError::invalid(e.to_string()),
            ComposeError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                FerryError::not_found(e.to_string())
            }
            ComposeError::Read { .. } => FerryError::invalid(e.to_string()),
        }
    }
}
