//! `callrec repair`: fixes Record files whose header lagged (the agent does this by itself for
//! the stick it finds; this is for files copied off a stick).

use super::CliError;
use callrec_platform::store::repair::{repair_dir, repair_file};
use lexopt::Arg;
use std::path::PathBuf;

pub fn run(mut p: lexopt::Parser) -> Result<(), CliError> {
    let mut target = None;
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Value(v) if target.is_none() => target = Some(PathBuf::from(v)),
            other => return Err(other.unexpected().into()),
        }
    }
    let target = target.ok_or_else(|| CliError::usage("repair needs a DIR or FILE"))?;
    let results = if target.is_dir() {
        repair_dir(&target).map_err(|e| CliError::failed(format!("{}: {e}", target.display())))?
    } else {
        vec![(target.clone(), repair_file(&target))]
    };
    let mut failed = 0;
    for (path, r) in results {
        match r {
            Ok(Some(fix)) => {
                println!(
                    "{}: repaired, dataSize {} -> {}",
                    path.display(),
                    fix.before,
                    fix.after
                )
            }
            Ok(None) => println!("{}: ok", path.display()),
            Err(e) => {
                failed += 1;
                println!("{}: {e}", path.display());
            }
        }
    }
    if failed > 0 {
        return Err(CliError::failed(format!(
            "{failed} file(s) could not be repaired"
        )));
    }
    Ok(())
}
