//! The form of an AWS region name, checked before anything is sent: a
//! mistyped region otherwise costs a round of retries against an endpoint
//! that does not exist and ends in an unrelated network error. Whether a
//! well-formed name is a region that exists is for AWS to answer.

/// The first word of every region of AWS's partitions (aws, aws-cn,
/// aws-us-gov, the ISO partitions, the European Sovereign Cloud), as the
/// SDK's partition table matches them: a name outside these has no
/// endpoint, and would only fail after a round of retries.
const AREAS: &[&str] = &["af", "ap", "ca", "cn", "eu", "eusc", "il", "me", "mx", "sa", "us"];

/// `Ok` for a name of the form `us-east-1`, `ap-southeast-2`,
/// `us-gov-west-1`: lower-case letters in dash-separated words, ending in a
/// number. The error says what is wrong, without naming where it came from.
pub fn check(region: &str) -> Result<(), String> {
    let good = {
        let mut parts = region.split('-');
        let first = parts.next().unwrap_or("");
        let rest: Vec<&str> = parts.collect();
        AREAS.contains(&first)
            && rest.len() >= 2
            && rest[..rest.len() - 1].iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
            && rest.last().is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match region {
        _ if good => Ok(()),
        "" => Err("the region is empty; a region is a name like `us-east-1`".into()),
        r if r.len() > 64 => Err("this is not an AWS region name; a region is a name like `us-east-1`".into()),
        r if r.bytes().any(|b| b.is_ascii_uppercase()) && check(&r.to_ascii_lowercase()).is_ok() => {
            Err(format!("`{r}` is not an AWS region name: region names are lower case (`{}`)", r.to_ascii_lowercase()))
        }
        r if r.split('-').count() >= 3 && !AREAS.contains(&r.split('-').next().unwrap_or("")) => {
            Err(format!("`{r}` is not an AWS region: region names start with one of {}", AREAS.join(", ")))
        }
        r => Err(format!("`{r}` is not an AWS region name; a region is a name like `us-east-1`")),
    }
}

/// The regions of AWS's partitions known when this moor was built. A
/// name outside it may be newer than this list, so it is never refused for
/// that alone; it names the nearest regions when a well-formed name has no
/// endpoint.
pub const KNOWN: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Whether `region` is in [`KNOWN`].
pub fn known(region: &str) -> bool {
    KNOWN.contains(&region)
}

/// The known regions nearest to `region` (by edit distance), at most three.
pub fn nearest(region: &str) -> Vec<&'static str> {
    let area = |r: &str| r.split('-').next().unwrap_or_default().to_string();
    let mut all: Vec<(bool, usize, &str)> =
        KNOWN.iter().map(|k| (area(k) != area(region), strsim::levenshtein(region, k), *k)).collect();
    all.sort();
    all.into_iter().take(3).map(|(_, _, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn region_names_have_one_form() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-4",
            "us-gov-west-1",
            "cn-north-1",
            "us-isob-east-1",
            "eusc-de-east-1",
            "mx-central-1",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "xx-nowhere-9",
            "US-EAST-1",
            "us-east",
            "useast1",
            "u-east-1",
            "us--1",
            "us-east-1 ",
            "us-east-1a",
            "east-1",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert!(check("US-EAST-1").unwrap_err().contains("lower case (`us-east-1`)"));
        assert!(check("").unwrap_err().contains("empty"));
        assert!(check("xx-nowhere-9").unwrap_err().contains("start with one of"));
    }

    #[test]
    fn the_nearest_known_regions_are_named() {
        assert_eq!(super::nearest("us-east-9")[..2], ["us-east-1", "us-east-2"]);
        assert_eq!(super::nearest("eu-wset-1")[0], "eu-west-1");
        assert!(super::known("eu-west-1") && !super::known("us-east-9"));
        for k in super::KNOWN {
            assert_eq!(check(k), Ok(()), "{k}");
        }
    }
}
