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
}
