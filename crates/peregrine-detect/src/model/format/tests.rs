use super::*;
use crate::model::kneser::KneserNey;

fn kn_model() -> Model {
    let a: Vec<u16> = [0u16, 1, 2, 3, 59, 1, 2].repeat(4);
    Model {
        body: Body::KneserNey(KneserNey::fit(&[&a], 3)),
        window: 20,
        threshold: 2.5,
        trained_on: 1,
    }
}

fn stide_model() -> Model {
    let a: Vec<u16> = [0u16, 1, 2, 3, 59, 1, 2].repeat(4);
    Model {
        body: Body::Stide(Stide::fit([&a[..]], 4)),
        window: 10,
        threshold: 0.5,
        trained_on: 1,
    }
}

fn reseal(bytes: &mut [u8]) {
    let crc = crc32fast::hash(&bytes[HEADER..]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn models_round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    for m in [kn_model(), stide_model()] {
        let p = dir.path().join("m.bin");
        save(&m, &p).unwrap();
        assert_eq!(load(&p).unwrap(), m);
    }
}

#[test]
fn a_truncated_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("short.model");
    for m in [kn_model(), stide_model()] {
        let bytes = encode(&m);
        for cut in 0..bytes.len() {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let e = load(&p).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("model file {}: ", p.display())),
                "{e}"
            );
        }
    }
    std::fs::write(&p, b"PRGN").unwrap();
    let e = load(&p).unwrap_err().to_string();
    assert!(e.contains("shorter than the 24-byte header"), "{e}");
}

#[test]
fn every_single_bit_flip_is_detected() {
    for m in [kn_model(), stide_model()] {
        let bytes = encode(&m);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&b).is_err(), "flip of bit {bit} went unnoticed");
        }
    }
    let mut b = encode(&kn_model());
    b[30] ^= 0x10;
    assert!(decode(&b).unwrap_err().contains("checksum"));
}

#[test]
fn huge_length_fields_are_refused_before_allocating() {
    let mut b = encode(&stide_model());
    // The n-gram count sits after window, threshold, trained_on and order.
    let at = HEADER + 4 + 8 + 4 + 1;
    b[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    reseal(&mut b);
    let e = decode(&b).unwrap_err();
    assert!(e.contains("claims 18446744073709551615 entries"), "{e}");

    let mut b = encode(&kn_model());
    b[12..20].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    let e = decode(&b).unwrap_err();
    assert!(e.contains("header declares"), "{e}");
}

#[test]
fn hostile_values_are_refused() {
    let mut b = encode(&kn_model());
    b[HEADER..HEADER + 4].copy_from_slice(&0u32.to_le_bytes());
    reseal(&mut b);
    assert!(decode(&b).unwrap_err().contains("window 0"));

    let mut b = encode(&kn_model());
    b[HEADER + 16] = 9; // order
    reseal(&mut b);
    assert!(decode(&b).unwrap_err().contains("order 9"));

    let mut b = encode(&kn_model());
    b[HEADER + 4..HEADER + 12].copy_from_slice(&f64::NAN.to_le_bytes());
    reseal(&mut b);
    assert!(decode(&b).unwrap_err().contains("threshold"));

    let mut b = encode(&kn_model());
    b[10] = 7; // kind
    assert!(decode(&b).unwrap_err().contains("unknown model kind 7"));

    let mut b = encode(&kn_model());
    b[8] = 2; // version
    assert!(decode(&b).unwrap_err().contains("format version 2"));

    let mut b = encode(&kn_model());
    b.extend([0u8; 3]);
    let n = (b.len() - HEADER) as u64;
    b[12..20].copy_from_slice(&n.to_le_bytes());
    reseal(&mut b);
    assert!(decode(&b).unwrap_err().contains("3 unexpected bytes"));

    let dir = tempfile::tempdir().unwrap();
    let e = load(&dir.path().join("absent")).unwrap_err().to_string();
    assert!(e.contains("absent") && e.contains("cannot read"), "{e}");
}
