//! `GET /services/{id}/logs` for a Docker client: Docker's multiplexed stream, each line
//! `[TIME ][DETAILS ]TEXT\n` on stdout, where DETAILS (with `details=1`, which Docker's CLI
//! asks for to print its prefix) are the `com.docker.swarm.*` IDs of the line's replica. A
//! node that could not be read is a line on stderr (pure).

use super::stream::{frame, STDERR, STDOUT};
use ferry_types::logs::ServiceLogEvent;

/// What a Docker client asked to see with each line.
#[derive(Debug, Clone, Copy, Default)]
pub struct DockerLogShape {
    /// The time the line was read first.
    pub timestamps: bool,
    /// The node, service and task IDs.
    pub details: bool,
}

impl DockerLogShape {
    /// One event as a frame of Docker's multiplexed stream.
    pub fn frame(&self, e: &ServiceLogEvent) -> Vec<u8> {
        match e {
            ServiceLogEvent::Line(l) => {
                let mut text = String::new();
                if self.timestamps {
                    text.push_str(&l.time);
                    text.push(' ');
                }
                if self.details {
                    text.push_str(&format!(
                        "com.docker.swarm.node.id={},com.docker.swarm.service.id={},com.docker.swarm.task.id={} ",
                        l.node_id, l.service_id, l.task_id
                    ));
                }
                text.push_str(&l.line);
                text.push('\n');
                frame(STDOUT, text.as_bytes())
            }
            ServiceLogEvent::Unreachable { node, message } => frame(
                STDERR,
                format!("the replicas on node {node} cannot be read: {message}\n").as_bytes(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_types::logs::ServiceLogLine;

    #[test]
    fn lines_carry_docker_s_details() {
        let l = ServiceLogEvent::Line(ServiceLogLine {
            service_id: "s".into(),
            task_id: "t".into(),
            node_id: "n".into(),
            time: "T".into(),
            line: "hi".into(),
            ..Default::default()
        });
        let shape = DockerLogShape {
            timestamps: true,
            details: true,
        };
        let f = shape.frame(&l);
        assert_eq!(f[0], STDOUT);
        assert_eq!(
            String::from_utf8_lossy(&f[8..]),
            "T com.docker.swarm.node.id=n,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t hi\n"
        );
        let plain = DockerLogShape::default().frame(&l);
        assert_eq!(&plain[8..], b"hi\n");
        let e = ServiceLogEvent::Unreachable {
            node: "b".into(),
            message: "m".into(),
        };
        assert_eq!(DockerLogShape::default().frame(&e)[0], STDERR);
    }
}
