//! The TPM manufacturers an AIK certificate may name (`tcg-at-tpmManufacturer`).
//!
//! Source: TCG TPM Vendor ID Registry, Family 1.2 and 2.0, Version 1.07, Revision 0.02
//! (20 November 2024), <https://trustedcomputinggroup.org/resource/vendor-id-registry/>,
//! §2 "TPM Capabilities Vendor ID (CAP_VID)". Each vendor ID is its ASCII code padded to
//! four bytes with 0x00 (0x20 for `NSM ` and `STM `), as a big-endian `u32`. Update this
//! table when the TCG publishes a new version of the registry.

/// `(vendor ID, ASCII code, vendor)`, in the registry's order.
pub(crate) const TCG_VENDOR_IDS: [(u32, &str, &str); 29] = [
    (0x414D_4400, "AMD", "AMD"),
    (0x414E_5400, "ANT", "Ant Group"),
    (0x4154_4D4C, "ATML", "Atmel"),
    (0x4252_434D, "BRCM", "Broadcom"),
    (0x4353_434F, "CSCO", "Cisco"),
    (0x464C_5953, "FLYS", "Flyslice Technologies"),
    (0x524F_4343, "ROCC", "Fuzhou Rockchip"),
    (0x474F_4F47, "GOOG", "Google"),
    (0x4850_4900, "HPI", "HPI"),
    (0x4850_4500, "HPE", "HPE"),
    (0x4849_5349, "HISI", "Huawei"),
    (0x4942_4D00, "IBM", "IBM"),
    (0x4946_5800, "IFX", "Infineon"),
    (0x494E_5443, "INTC", "Intel"),
    (0x4C45_4E00, "LEN", "Lenovo"),
    (0x4D53_4654, "MSFT", "Microsoft"),
    (0x4E53_4D20, "NSM ", "National Semiconductor"),
    (0x4E54_5A00, "NTZ", "Nationz"),
    (0x4E53_4700, "NSG", "NSING"),
    (0x4E54_4300, "NTC", "Nuvoton Technology"),
    (0x5143_4F4D, "QCOM", "Qualcomm"),
    (0x534D_534E, "SMSN", "Samsung"),
    (0x5345_4345, "SECE", "SecEdge"),
    (0x534E_5300, "SNS", "Sinosun"),
    (0x534D_5343, "SMSC", "SMSC"),
    (0x5354_4D20, "STM ", "STMicroelectronics"),
    (0x5458_4E00, "TXN", "Texas Instruments"),
    (0x5745_4300, "WEC", "Winbond"),
    (0x5345_414C, "SEAL", "Wisekey"),
];

/// Manufacturer IDs of test TPMs, accepted only with
/// `VerifierOptions::tpm_test_manufacturers`: `FFFFF1D0` (the FIDO Alliance conformance
/// tool's simulated TPM) and `00000000` (the W3C WebAuthn Level 3 example and other
/// synthetic test vectors). No registered vendor has either ID.
pub(crate) const TEST_MANUFACTURER_IDS: [u32; 2] = [0xFFFF_F1D0, 0x0000_0000];

/// The vendor ID of `value`, a `tcg-at-tpmManufacturer` attribute value (`id:` and
/// eight hexadecimal digits, TCG EK Credential Profile §3.1.2), if it has that form.
fn manufacturer_id(value: &str) -> Option<u32> {
    let hex = value.strip_prefix("id:")?;
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok()
}

/// Whether `value`, a `tcg-at-tpmManufacturer` attribute value, names a registered
/// vendor or, when `accept_test` is set, one of the [`TEST_MANUFACTURER_IDS`].
pub(crate) fn is_accepted_manufacturer(value: &str, accept_test: bool) -> bool {
    manufacturer_id(value).is_some_and(|id| {
        TCG_VENDOR_IDS.iter().any(|(known, _, _)| *known == id)
            || (accept_test && TEST_MANUFACTURER_IDS.contains(&id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_ids_are_their_ascii_codes() {
        for (id, code, _) in TCG_VENDOR_IDS {
            let mut bytes = [0u8; 4];
            for (slot, b) in bytes.iter_mut().zip(code.bytes()) {
                *slot = b;
            }
            assert_eq!(u32::from_be_bytes(bytes), id, "{code}");
        }
        for accept_test in [false, true] {
            assert!(is_accepted_manufacturer("id:414D4400", accept_test));
            assert!(is_accepted_manufacturer("id:49424d00", accept_test));
        }
        for bad in [
            "id:FFFFF1D0",
            "414D4400",
            "id:414D440",
            "id:414D4400 ",
            "id:+14D4400",
            "",
        ] {
            assert!(!is_accepted_manufacturer(bad, false), "{bad}");
        }
        // The test IDs only with the option, and nothing else with it.
        for test in ["id:FFFFF1D0", "id:fffff1d0", "id:00000000"] {
            assert!(!is_accepted_manufacturer(test, false), "{test}");
            assert!(is_accepted_manufacturer(test, true), "{test}");
        }
        for bad in ["id:12345678", "id:FFFFF1D", "00000000", ""] {
            assert!(!is_accepted_manufacturer(bad, true), "{bad}");
        }
    }
}
