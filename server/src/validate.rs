//! What the server accepts in a RecordStartRequest. Fields are data (they never become paths),
//! but a record server is an archive people search and show: ids and MACs must look like ids and
//! MACs, and no field may carry control characters or run long.

use callrec_core::record_protocol::StartRequest;

const MAX_ID: usize = 64;
const MAX_NUMBER: usize = 64;
const MAX_NAME: usize = 256;

/// `Err(reason)` for the phone when a field is unacceptable.
pub fn start_request(r: &StartRequest) -> Result<(), String> {
    check_token("id", &r.id, MAX_ID, |c| {
        c.is_ascii_alphanumeric() || "-_.:".contains(c)
    })?;
    check_token("device", &r.device, 32, |c| {
        c.is_ascii_hexdigit() || ":-.".contains(c)
    })?;
    for (field, v) in [
        ("remote_number", &r.remote_number),
        ("local_number", &r.local_number),
    ] {
        if !v.is_empty() {
            check_token(field, v, MAX_NUMBER, |c| {
                c.is_ascii_alphanumeric() || "+*#@._-:;=".contains(c)
            })?;
        }
    }
    for (field, v) in [
        ("remote_name", &r.remote_name),
        ("local_name", &r.local_name),
    ] {
        if v.chars().count() > MAX_NAME {
            return Err(format!("{field} longer than {MAX_NAME} characters"));
        }
        if v.chars().any(char::is_control) {
            return Err(format!("{field} contains control characters"));
        }
    }
    Ok(())
}

fn check_token(field: &str, v: &str, max: usize, ok: impl Fn(char) -> bool) -> Result<(), String> {
    if v.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if v.len() > max {
        return Err(format!("{field} longer than {max} characters"));
    }
    if !v.chars().all(ok) {
        return Err(format!("{field} has characters it may not have"));
    }
    Ok(())
}
