//! The copy's `samconfig.toml`: the workshop's, with the stack named after the function, so a
//! copy deployed next to the workshop (or next to another copy) gets a stack of its own.

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, TableLike, Value};

pub fn with_stack_name(samconfig: &str, stack_name: &str) -> Result<String> {
    let mut document: DocumentMut = samconfig.parse().context("samconfig.toml is not valid TOML")?;
    rename(document.as_table_mut(), stack_name);
    Ok(document.to_string())
}

/// Every `stack_name`, in whichever command's parameters it is set.
fn rename(table: &mut dyn TableLike, stack_name: &str) {
    for (key, item) in table.iter_mut() {
        if key.get() == "stack_name" {
            if let Some(value) = item.as_value_mut() {
                let decor = value.decor().clone();
                *value = Value::from(stack_name);
                *value.decor_mut() = decor;
            }
        } else if let Some(table) = item.as_table_like_mut() {
            rename(table, stack_name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_is_named_after_the_function() {
        let samconfig = "[default.global.parameters]\nstack_name = \"rust-upload-catalog\"\n";
        assert_eq!(
            with_stack_name(samconfig, "s3-put-handler").unwrap(),
            "[default.global.parameters]\nstack_name = \"s3-put-handler\"\n"
        );
    }

    #[test]
    fn comments_and_other_settings_stay() {
        let samconfig = "version = 0.1\n\n[default.deploy.parameters]\n# Why.\nstack_name = \"x\" # Named.\nconfirm_changeset = true\n";
        assert_eq!(
            with_stack_name(samconfig, "f").unwrap(),
            "version = 0.1\n\n[default.deploy.parameters]\n# Why.\nstack_name = \"f\" # Named.\nconfirm_changeset = true\n"
        );
    }
}
