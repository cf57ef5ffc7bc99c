//! Archives of a commit as the hosts serve them: a zip holding the commit's
//! composer.json and a placeholder class, under the host's top folder (or at
//! the root, as `git archive` writes it). Every timestamp and mode is fixed,
//! so a commit always gives the same bytes and dist shasums stay stable.

use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// How a host lays out an archive.
pub(crate) struct Layout<'a> {
    /// The single top folder (GitHub `{owner}-{repo}-{sha7}`, …), or `None`
    /// for files at the root.
    pub top: Option<&'a str>,
    /// Written as the zip comment when set (`git archive` puts the commit id there).
    pub comment: Option<&'a str>,
}

/// The archive of `repo` (its full name, for the placeholder) at `sha`.
pub(crate) fn zip(
    layout: Layout,
    repo: &str,
    sha: &str,
    composer: Option<&[u8]>,
) -> zip::result::ZipResult<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::DEFAULT)
        .unix_permissions(0o644);
    let prefix = layout.top.map(|top| format!("{top}/")).unwrap_or_default();
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    if let Some(comment) = layout.comment {
        zip.set_comment(comment)?;
    }
    if !prefix.is_empty() {
        zip.add_directory(prefix.as_str(), options)?;
    }
    if let Some(composer) = composer {
        zip.start_file(format!("{prefix}composer.json"), options)?;
        zip.write_all(composer)?;
    }
    zip.add_directory(format!("{prefix}src/"), options)?;
    zip.start_file(format!("{prefix}src/Placeholder.php"), options)?;
    write!(
        zip,
        "<?php\n\ndeclare(strict_types=1);\n\n// {repo} at {sha}\nfinal class Placeholder\n{{\n}}\n"
    )?;
    Ok(zip.finish()?.into_inner())
}
