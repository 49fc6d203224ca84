//! A check built against a future contract version, which this pitwall must
//! refuse by name.

wit_bindgen::generate!({
    inline: "
        package pitwall:check@0.9.0;
        interface plugin {
            run: func(config: string) -> string;
        }
        world check {
            export plugin;
        }
    ",
});

struct Future;

impl exports::pitwall::check::plugin::Guest for Future {
    fn run(config: String) -> String {
        config
    }
}

export!(Future);
