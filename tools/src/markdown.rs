//! The Markdown tables the benchmarks print and write.

/// A table with a header row; cells are taken as they are (no escaping of `|`).
pub fn table<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.as_ref().join(" | ")));
    }
    out
}

/// KiB as MiB with one decimal ("12.3 MiB").
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_has_its_header_rule_and_rows() {
        let rows = vec![vec!["a".to_string(), "1".to_string()]];
        assert_eq!(
            table(&["name", "n"], &rows),
            "| name | n |\n|---|---|\n| a | 1 |\n"
        );
        assert_eq!(mib(1536), "1.5 MiB");
    }
}
