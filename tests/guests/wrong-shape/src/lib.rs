//! A check that claims `pitwall:check@0.2.0` but whose `run` returns a
//! string, not a verdict: pitwall must refuse it at load, naming `run`.

wit_bindgen::generate!({ path: "wit", world: "check" });

use exports::pitwall::check::plugin::Guest;
use pitwall::check::types::{Context, Descriptor};

struct WrongShape;

impl Guest for WrongShape {
    fn describe() -> Descriptor {
        Descriptor {
            name: "wrong-shape".into(),
            version: "0.1.0".into(),
            description: "run returns a string".into(),
            config_help: String::new(),
            capabilities: Vec::new(),
        }
    }

    fn validate_config(_: String) -> Result<(), String> {
        Ok(())
    }

    fn run(_: Context, config: String) -> String {
        config
    }
}

export!(WrongShape);
