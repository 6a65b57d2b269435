use super::*;

fn record() -> LoadRecord {
    LoadRecord {
        code: CodeKeys {
            runtime: "r1-wasmtime".into(),
            image: "i2-wasmtime".into(),
            globals: vec![(1, 42)],
        },
        mounts: vec![Mount {
            guest: "2".into(),
            host: PathBuf::from("/cache/bundles/ab/2"),
        }],
    }
}

#[test]
fn a_record_reads_back_as_written() {
    let text = record().to_text().unwrap();
    assert_eq!(LoadRecord::parse(&text), Some(record()));
    let mut none = record();
    none.mounts.clear();
    assert_eq!(LoadRecord::parse(&none.to_text().unwrap()), Some(none));
}

#[test]
fn a_damaged_record_is_refused() {
    let text = record().to_text().unwrap();
    for bad in [
        text.replace("mount\t2\t", "mount\t2"),
        text.replace("/cache/bundles/ab/2", "/cache/bundles/ab/2\tx"),
        text.replace("image ", "imagine "),
        format!("{text}junk\n"),
    ] {
        assert_eq!(LoadRecord::parse(&bad), None, "{bad}");
    }
}

#[test]
fn the_stamp_changes_with_every_write_and_touch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.wasm");
    std::fs::write(&file, b"one").unwrap();
    let first = stamp_of(&file).unwrap();
    assert_eq!(stamp_of(&file).unwrap(), first, "a stamp read twice");
    std::fs::write(&file, b"two").unwrap();
    let rewritten = stamp_of(&file).unwrap();
    assert_ne!(rewritten, first, "same size, new contents");
    let now = std::time::SystemTime::now();
    let times = std::fs::FileTimes::new().set_modified(now);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_times(times)
        .unwrap();
    assert_ne!(stamp_of(&file).unwrap(), rewritten, "a touch");
    assert_eq!(stamp_of(&dir.path().join("missing.wasm")), None);
}
