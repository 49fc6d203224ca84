//! The WebAssembly OCI artifact, as wasm-pkg-tools' `oci-wasm` defines it:
//! an OCI image manifest whose config is `application/vnd.wasm.config.v0+json`
//! and whose one layer is the component, `application/wasm`. Reading checks
//! a manifest is one; packaging writes one.

use std::collections::BTreeMap;

use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciImageManifest};
use serde::Serialize;
use wasmparser::{Parser, Payload};

use super::{Digest, OciError, Reference};
use crate::checks::plugin::{self, MAX_COMPONENT_BYTES, PluginError, Source};

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The annotation `oras pull` takes the layer's file name from.
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// A manifest known to describe one WebAssembly component.
pub struct Manifest {
    /// The digest of `raw`: what `@sha256:` pins.
    pub digest: Digest,
    /// The component's digest and size, as the manifest states them.
    pub layer: Digest,
    pub size: u64,
    /// The manifest exactly as the registry sent it.
    pub raw: Vec<u8>,
}

impl Manifest {
    /// Reads `raw`, the manifest fetched for `reference`: refused when it is
    /// not the pinned digest or not a single-component wasm artifact.
    pub fn read(reference: &Reference, raw: Vec<u8>) -> Result<Manifest, OciError> {
        let digest = Digest::of(&raw);
        if let Some(expected) = reference.digest()
            && *expected != digest
        {
            return Err(OciError::DigestMismatch {
                reference: reference.to_string(),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        let not_wasm = |found: String| OciError::NotWasm {
            reference: reference.to_string(),
            found,
        };
        let manifest: OciImageManifest = serde_json::from_slice(&raw).map_err(|_| {
            not_wasm("its manifest is not a single image manifest; an image index?".into())
        })?;
        if manifest.config.media_type != CONFIG_MEDIA_TYPE {
            return Err(not_wasm(format!(
                "its config is {}",
                manifest.config.media_type
            )));
        }
        let [layer] = manifest.layers.as_slice() else {
            return Err(not_wasm(format!(
                "it has {} layers, a component one",
                manifest.layers.len()
            )));
        };
        if layer.media_type != LAYER_MEDIA_TYPE {
            return Err(not_wasm(format!("its layer is {}", layer.media_type)));
        }
        let size = u64::try_from(layer.size)
            .map_err(|_| not_wasm(format!("its layer has size {}", layer.size)))?;
        if size > MAX_COMPONENT_BYTES {
            return Err(OciError::TooLarge {
                reference: reference.to_string(),
                size,
                max: MAX_COMPONENT_BYTES,
            });
        }
        Ok(Manifest {
            digest,
            layer: Digest::parse(&layer.digest).map_err(not_wasm)?,
            size,
            raw,
        })
    }
}

/// A check about to be pushed: its bytes and the names it imports and
/// exports, read without compiling it.
pub struct Component {
    title: String,
    bytes: Vec<u8>,
    imports: Vec<String>,
    exports: Vec<String>,
}

/// What a push uploads: the layer, the config and the manifest naming both.
pub(super) struct Package {
    pub layer: ImageLayer,
    pub config: Config,
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
}

impl Component {
    /// The component `source` names, refused unless it is a check of the
    /// contract this pitwall speaks: a registry should hold no check that
    /// would fail every preflight.
    pub fn read(source: &Source) -> Result<Component, PluginError> {
        let name = source.to_string();
        let bytes = source.bytes()?;
        plugin::precheck(&name, &bytes)?;
        let (imports, exports) = names(&bytes).map_err(|reason| PluginError::Invalid {
            source_name: name.clone(),
            reason,
        })?;
        plugin::check_contract(
            &name,
            exports.iter().map(String::as_str),
            imports.iter().map(String::as_str),
        )?;
        let title = match source {
            Source::Builtin(b) => format!("{}.wasm", b.name),
            Source::File(path) => path
                .file_name()
                .map_or_else(|| "check.wasm".into(), |n| n.to_string_lossy().into_owned()),
            Source::Oci(pulled) => format!("{}.wasm", pulled.reference.name()),
        };
        Ok(Component {
            title,
            bytes,
            imports,
            exports,
        })
    }

    pub(super) fn package(&self) -> Package {
        let layer = ImageLayer::new(
            self.bytes.clone(),
            LAYER_MEDIA_TYPE.to_string(),
            Some(BTreeMap::from([(
                TITLE_ANNOTATION.to_string(),
                self.title.clone(),
            )])),
        );
        let layer_digest = layer.sha256_digest();
        let created = crate::clock::now_rfc3339();
        let config = WasmConfig {
            created,
            architecture: "wasm",
            os: "wasip2",
            layer_digests: [&layer_digest],
            component: ComponentNames {
                exports: &self.exports,
                imports: &self.imports,
                target: None,
            },
        };
        let config = Config::new(
            serde_json::to_vec(&config).expect("the config serialises"),
            CONFIG_MEDIA_TYPE.to_string(),
            None,
        );
        let mut manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, None);
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_string());
        // Serialised here, not by the client, so the digest printed is the
        // digest of the bytes pushed.
        let manifest = serde_json::to_vec(&manifest).expect("the manifest serialises");
        Package {
            layer,
            config,
            manifest_digest: Digest::of(&manifest),
            manifest,
        }
    }
}

/// The config's fields, as `oci-wasm`'s `WasmConfig` names them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    created: String,
    architecture: &'static str,
    os: &'static str,
    layer_digests: [&'a str; 1],
    component: ComponentNames<'a>,
}

#[derive(Serialize)]
struct ComponentNames<'a> {
    exports: &'a [String],
    imports: &'a [String],
    target: Option<&'a str>,
}

/// The component's own imports and exports (not those of the modules and
/// components nested in it).
fn names(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), String> {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    imports.push(import.map_err(|e| e.to_string())?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    exports.push(export.map_err(|e| e.to_string())?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::builtin;

    fn reference(spec: &str) -> Reference {
        Reference::parse(spec).unwrap().unwrap()
    }

    #[test]
    fn a_builtin_is_packaged_as_a_wasm_artifact_that_reads_back() {
        let probe = builtin::find("http-probe").unwrap();
        let component = Component::read(&Source::Builtin(probe)).unwrap();
        assert!(
            component
                .exports
                .iter()
                .any(|e| e == crate::checks::bindings::PLUGIN_EXPORT),
            "{:?}",
            component.exports
        );
        let package = component.package();
        let config: serde_json::Value = serde_json::from_slice(&package.config.data).unwrap();
        assert_eq!(config["os"], "wasip2");
        assert_eq!(config["layerDigests"][0], package.layer.sha256_digest());
        let pinned = reference(&format!(
            "oci://r.example.com/p:1@{}",
            package.manifest_digest
        ));
        let manifest = Manifest::read(&pinned, package.manifest.clone()).unwrap();
        assert_eq!(manifest.layer.to_string(), package.layer.sha256_digest());
        assert_eq!(manifest.size, probe.wasm.len() as u64);
    }

    #[test]
    fn a_container_image_or_another_digest_is_refused() {
        let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:00","size":2},
            "layers":[]}"#;
        let e = Manifest::read(&reference("oci://r.example.com/p:1"), image.to_vec())
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("not a WebAssembly component artifact (its config is application/vnd.oci.image.config.v1+json)"),
            "{e}"
        );
        let pinned = reference(&format!("oci://r.example.com/p:1@{}", Digest::of(b"other")));
        let e = Manifest::read(&pinned, image.to_vec()).err().unwrap();
        assert!(matches!(e, OciError::DigestMismatch { .. }), "{e}");
    }
}
