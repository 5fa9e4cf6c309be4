//! `ferry stack ps`: the tasks of every service of a stack, with the node of each.

use ferry_client::Client;

/// Lists the tasks of the stack's services, service by service.
pub(super) async fn ps(c: &Client, stack: &str) -> anyhow::Result<i32> {
    let list = super::stack_services(c, stack).await?;
    if list.is_empty() {
        super::nothing_found(stack);
        return Ok(0);
    }
    let mut tasks = Vec::new();
    for s in &list {
        tasks.extend(c.service_tasks(&s.id).await?);
    }
    crate::commands::service::print_tasks(&tasks)?;
    Ok(0)
}
