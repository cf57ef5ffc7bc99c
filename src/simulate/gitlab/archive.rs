//! GitLab-style `archive.zip`: one top folder `{project-path}-{ref}-{sha}/`
//! (the ref is the SHA itself when asked by commit) holding the commit's
//! files. Every timestamp and mode is fixed, so a commit always gives the
//! same bytes (dist shasums stay stable).

use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

pub(super) fn archive(
    path: &str,
    reference: &str,
    sha: &str,
    composer: Option<&[u8]>,
) -> zip::result::ZipResult<Vec<u8>> {
    let top = format!("{path}-{reference}-{sha}");
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::DEFAULT)
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.add_directory(format!("{top}/"), options)?;
    if let Some(composer) = composer {
        zip.start_file(format!("{top}/composer.json"), options)?;
        zip.write_all(composer)?;
    }
    zip.add_directory(format!("{top}/src/"), options)?;
    zip.start_file(format!("{top}/src/Placeholder.php"), options)?;
    write!(
        zip,
        "<?php\n\ndeclare(strict_types=1);\n\n// {path} at {sha}\nfinal class Placeholder\n{{\n}}\n"
    )?;
    Ok(zip.finish()?.into_inner())
}
