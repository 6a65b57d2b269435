//! Reading what the staged glue leaves for the builder.

use super::*;

fn staging_with_glue() -> tempfile::TempDir {
    let staging = tempfile::tempdir().unwrap();
    std::fs::create_dir(staging.path().join("glue")).unwrap();
    staging
}

#[test]
fn the_object_list_is_read_from_the_staged_glue() {
    let staging = staging_with_glue();
    let list = staging.path().join(componentize::SNAPSHOT_OBJECTS_FILE);
    std::fs::write(&list, [1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    assert_eq!(
        read_snapshot_objects(staging.path()).unwrap(),
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
}

#[test]
fn a_missing_list_says_the_glue_wrote_none() {
    let error = read_snapshot_objects(staging_with_glue().path()).unwrap_err();
    assert!(
        error.to_string().contains("the glue wrote no object list"),
        "{error}"
    );
}

#[test]
fn a_list_symlinked_outside_the_staging_directory_is_not_read() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, b"host file").unwrap();
    let staging = staging_with_glue();
    std::os::unix::fs::symlink(
        &secret,
        staging.path().join(componentize::SNAPSHOT_OBJECTS_FILE),
    )
    .unwrap();
    assert!(read_snapshot_objects(staging.path()).is_err());
}
