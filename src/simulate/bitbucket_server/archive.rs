//! Archives as `GET …/archive?format=zip` streams them: `git archive` of the
//! commit without a `prefix`, so the files sit at the root of the zip (no top
//! folder), directories have their own entries, and the commit id is the zip
//! comment, as git writes it. Every timestamp and mode is fixed, so a commit
//! always gives the same bytes (dist shasums stay stable).

use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

pub(super) fn zip(
    project: &str,
    slug: &str,
    sha: &str,
    composer: Option<&[u8]>,
) -> zip::result::ZipResult<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::DEFAULT)
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    zip.set_comment(sha)?;
    if let Some(composer) = composer {
        zip.start_file("composer.json", options)?;
        zip.write_all(composer)?;
    }
    zip.add_directory("src/", options)?;
    zip.start_file("src/Placeholder.php", options)?;
    write!(
        zip,
        "<?php\n\ndeclare(strict_types=1);\n\n// {project}/{slug} at {sha}\nfinal class Placeholder\n{{\n}}\n"
    )?;
    Ok(zip.finish()?.into_inner())
}
