//! The engine's errors in Docker's words and status codes, for Docker clients: scripts grep
//! `No such container`, and dockerd answers 403 for a network still in use.

use ferry_types::{ErrorKind, FerryError};

/// An engine error as dockerd would report it.
pub fn to_docker(mut e: FerryError) -> FerryError {
    if let Some(name) = e.message.strip_prefix("no such sandbox: ") {
        e.message = format!("No such container: {name}");
    } else if let Some(name) = e
        .message
        .strip_prefix("sandbox ")
        .and_then(|m| m.strip_suffix(" is not running"))
    {
        e.message = format!("Container {name} is not running");
    } else if let Some((sb, net)) = e
        .message
        .strip_prefix("sandbox ")
        .and_then(|m| m.split_once(" is already connected to network "))
    {
        e.message = format!("endpoint with name {sb} already exists in network {net}");
    } else if let Some(rest) = e.message.strip_prefix("unknown network driver \"") {
        // dockerd looks for a plugin of that name and answers 404.
        let name = rest.split('"').next().unwrap_or(rest).to_string();
        e.message = format!("plugin \"{name}\" not found; {}", e.message);
        e.kind = ErrorKind::NotFound;
    } else if e.kind == ErrorKind::Conflict && e.message.contains("has active endpoints") {
        // libnetwork's ActiveEndpointsError is Forbidden.
        e.kind = ErrorKind::Forbidden;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_words_and_codes() {
        let e = to_docker(FerryError::not_found("no such sandbox: web"));
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "No such container: web")
        );
        let e = to_docker(FerryError::conflict(
            "network n1 has active endpoints (sandboxes: a); disconnect or remove them first",
        ));
        assert_eq!(e.kind, ErrorKind::Forbidden);
        let e = to_docker(FerryError::forbidden(
            "sandbox web is already connected to network n1",
        ));
        assert_eq!(
            e.message,
            "endpoint with name web already exists in network n1"
        );
        let e = to_docker(FerryError::invalid(
            "unknown network driver \"weave\": ferry has bridge, macvlan",
        ));
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e
            .message
            .starts_with("plugin \"weave\" not found; unknown network driver"));
        let e = to_docker(FerryError::conflict("sandbox web is not running"));
        assert_eq!(e.message, "Container web is not running");
        let e = to_docker(FerryError::conflict("network with name n1 already exists"));
        assert_eq!(e.kind, ErrorKind::Conflict);
    }
}
