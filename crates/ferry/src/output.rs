//! Output helpers: docker-style aligned tables and JSON.

use std::io::Write;

/// Prints rows as columns separated by at least three spaces (the docker CLI's tabwriter
/// settings).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut tw = tabwriter::TabWriter::new(std::io::stdout())
        .minwidth(10)
        .padding(3);
    writeln!(tw, "{}", header.join("\t"))?;
    for r in rows {
        writeln!(tw, "{}", r.join("\t"))?;
    }
    tw.flush()?;
    Ok(())
}

/// Prints values as an indented JSON array, as `docker inspect` does.
pub fn json_array(values: &[serde_json::Value]) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(values)?);
    Ok(())
}

/// Shortens an ID unless `no_trunc`.
pub fn id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        ferry_types::ids::short(id).to_string()
    }
}

/// Prints the error of one of several objects a command works on, as `main` prints a
/// command's error: `Error: ` and the error with its causes.
pub fn error(e: ferry_client::ClientError) {
    eprintln!("Error: {:#}", anyhow::Error::from(e));
}

/// `inspect` of several objects: fetches each with `fetch(name)`, prints the JSON array of
/// those found and an error line for each one not found; the exit code is 1 when any failed.
pub async fn inspect_all(
    names: &[String],
    fetch: impl AsyncFn(&str) -> Result<serde_json::Value, ferry_client::ClientError>,
) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    let mut code = 0;
    for n in names {
        match fetch(n).await {
            Ok(v) => out.push(v),
            Err(e) => {
                error(e);
                code = 1;
            }
        }
    }
    json_array(&out)?;
    Ok(code)
}
