//! `ferry stack services`: `service ls` of one stack's services.

use ferry_client::Client;

/// Lists the stack's services as `service ls` does.
pub(super) async fn services(c: &Client, stack: &str, quiet: bool) -> anyhow::Result<i32> {
    let list = super::stack_services(c, stack).await?;
    if list.is_empty() {
        super::nothing_found(stack);
        return Ok(0);
    }
    crate::commands::service::print_services(&list, quiet)?;
    Ok(0)
}
