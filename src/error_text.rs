//! Rendering errors for admins: HTTP and TLS errors hide their real cause ("error sending request")
//! in their source chain, so messages include the whole chain.

use std::error::Error;

/// `error: cause: deeper cause`, without repeating a cause already contained in its parent's text.
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
