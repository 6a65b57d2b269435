//! Reading a policy package (SPEC §3): `policy-definition.yaml`, `policy.py`
//! and any other files, `requirements.txt`.
//!
//! Every file is read through a cap-std handle on the package directory, and
//! symlinks are refused outright, so a package cannot make the build read a
//! host file outside it.

mod definition;
mod files;
mod requirements;

pub use definition::{DefinitionError, PolicyDefinition};
pub(crate) use files::is_native_library;
pub use files::{FileError, PackageFile, PolicyPackage};
pub use requirements::{Requirement, RequirementError, parse_requirements};
