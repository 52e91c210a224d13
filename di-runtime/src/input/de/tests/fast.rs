//! The query fast path answers only what the every-problem search answers the same way.

use std::collections::HashMap;
use std::fmt::Debug;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::super::fast;
use super::super::from_query;

#[derive(Debug, Deserialize, PartialEq)]
enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Page {
    limit: u32,
    offset: Option<u64>,
    q: Option<String>,
    order: Option<Order>,
    tags: Option<Vec<String>>,
    exact: Option<bool>,
    initial: Option<char>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Strict {
    a: i8,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Newtype(Page);

/// When the fast path answers, the search answers the same; every query is tried.
fn agree<T: DeserializeOwned + PartialEq + Debug>(queries: &[&str]) -> usize {
    let mut fast_answers = 0;
    for query in queries {
        if let Some(value) = fast::query::<T>(query) {
            fast_answers += 1;
            match from_query::<T>(query) {
                Ok(searched) => assert_eq!(value, searched, "{query}"),
                Err(problems) => {
                    panic!("{query}: fast path answered {value:?}, search {problems:?}")
                }
            }
        }
    }
    fast_answers
}

const QUERIES: &[&str] = &[
    "",
    "limit=5",
    "limit=5&offset=10",
    "limit=+5",
    "limit=5&q=hello%20world&exact=true",
    "limit=5&q=a+b",
    "limit=5&order=Asc",
    "limit=5&order=Sideways",
    "limit=5&tags=a",
    "limit=5&tags=a&tags=b",
    "limit=5&limit=6",
    "limit=x",
    "limit=-1",
    "limit=5&offset=",
    "limit=5&initial=z",
    "limit=5&initial=zz",
    "limit=5&exact=yes",
    "limit=5&unknown=1",
    "a=1",
    "a=1&b=2",
    "a=300",
    "%ZZ=1",
    "limit=5&q=%E2%9C%93",
];

#[test]
fn the_fast_path_never_disagrees_with_the_search() {
    assert!(
        agree::<Page>(QUERIES) >= 8,
        "the fast path answers the good queries"
    );
    agree::<Strict>(QUERIES);
    agree::<Newtype>(QUERIES);
    agree::<HashMap<String, String>>(QUERIES);
    agree::<HashMap<String, u32>>(QUERIES);
    agree::<Option<Page>>(QUERIES);
    agree::<()>(QUERIES);
}

#[test]
fn bad_input_goes_to_the_search() {
    assert!(fast::query::<Page>("limit=x").is_none());
    assert!(fast::query::<Strict>("a=1&b=2").is_none());
    // A struct's field given twice is read here, grouped by key as the search reads it: the
    // last value of a single one (it went to the search before `pairs_grouping`).
    assert_eq!(
        fast::query::<Page>("limit=5&limit=6").map(|p| p.limit),
        Some(6)
    );
    assert_eq!(agree::<Page>(&["limit=5&limit=6"]), 1);
    assert!(fast::query::<Page>("limit=5&limit=x").is_none());
    assert!(fast::query::<Strict>("a=1&a=2&b=3").is_none());
    assert_eq!(
        fast::query::<Page>("limit=5&q=a+b").map(|p| p.q),
        Some(Some("a b".to_owned()))
    );
}

#[test]
fn more_pairs_than_are_kept_on_the_stack_read_the_same() {
    // Past the pairs kept without allocating, a repeated key still goes to the search, and
    // every pair still counts.
    let many = "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10";
    let map = fast::query::<HashMap<String, u32>>(many).expect("distinct keys");
    assert_eq!(map.len(), 10);
    assert_eq!((map["a"], map["e"], map["j"]), (1, 5, 10));
    assert!(fast::query::<HashMap<String, u32>>("a=1&b=2&c=3&d=4&e=5&a=6").is_none());
    assert!(fast::query::<HashMap<String, u32>>("a=1&b=2&c=3&d=4&e=5&f=6&f=7").is_none());
    // Past the keys compared one by one (they are sorted then), the same: 40 distinct keys
    // are read here, as the search reads them, and one repeated goes to the search.
    let forty: Vec<String> = (0..40).map(|i| format!("k{i}={i}")).collect();
    let forty = forty.join("&");
    let map = fast::query::<HashMap<String, u32>>(&forty).expect("distinct keys");
    assert_eq!((map.len(), map["k0"], map["k39"]), (40, 0, 39));
    let repeated = format!("{forty}&k17=1");
    assert!(fast::query::<HashMap<String, u32>>(&repeated).is_none());
    agree::<HashMap<String, u32>>(&[
        many,
        "a=1&b=2&c=3&d=4",
        "a=1&b=2&c=3&d=4&e=5",
        &forty,
        &repeated,
    ]);
}

#[test]
fn a_struct_is_read_here_whatever_keys_it_does_not_take_repeat() {
    // Many keys, some repeated, none of them the struct's twice (headers behind a proxy, an
    // HTTP/2 browser's cookie fields): still read here, as the search reads them.
    let mut keys: Vec<String> = (0..40).map(|i| format!("x{i}=v")).collect();
    keys.extend([
        "x3=again".to_owned(),
        "limit=7".to_owned(),
        "x5=again".to_owned(),
    ]);
    let query = keys.join("&");
    assert_eq!(fast::query::<Page>(&query).map(|p| p.limit), Some(7));
    agree::<Page>(&[&query]);
    // One of its own fields repeated is read grouped, its last value, as the search reads it.
    let again = format!("{query}&limit=8");
    assert_eq!(fast::query::<Page>(&again).map(|p| p.limit), Some(8));
    assert_eq!(agree::<Page>(&[&again]), 1);
}

#[derive(Debug, Deserialize, PartialEq)]
struct Lists {
    q: String,
    #[serde(default)]
    tag: Vec<String>,
    ids: Option<Vec<u32>>,
    pair: Option<(u8, u8)>,
    order: Option<Order>,
    flag: Option<bool>,
    n: Option<u32>,
    initial: Option<char>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Wrapped(Lists);

/// Queries whose keys repeat, good and bad.
const REPEATED: &[&str] = &[
    "q=a&tag=x&tag=y",
    "tag=x&q=a&tag=y&tag=z",
    "q=a&q=b",
    "q=a&q=b&unknown=1&unknown=2",
    "q=a&ids=1&ids=2&ids=3",
    "q=a&ids=1&ids=x",
    "q=a&ids=1",
    "q=a&pair=1&pair=2",
    "q=a&pair=1&pair=2&pair=3",
    "q=a&pair=1&pair=2&q=b",
    "q=a&pair=1",
    "q=a&order=Asc&order=Desc",
    "q=a&order=Desc&order=Up",
    "q=a&order=Up&order=Desc",
    "q=a&flag=yes&flag=off",
    "q=a&flag=off&flag=maybe",
    "q=a&n=x&n=5",
    "q=a&n=5&n=x",
    "q=a&initial=x&initial=yz",
    "q=a&initial=yz&initial=x",
    "q=a&tag=%20x&tag=y+z&q=%E2%9C%93",
    "q=a&tag=&tag=",
    "q=&q=",
    "tag=x&tag=y",
    "q=a&tag=x&tag=y&n=1&n=2&ids=3&ids=4&pair=5&pair=6&order=Asc&order=Desc",
];

#[test]
fn repeated_keys_of_a_struct_are_read_here_as_the_search_reads_them() {
    let answered = agree::<Lists>(REPEATED);
    assert!(answered >= 15, "the good ones are read here: {answered}");
    agree::<Wrapped>(REPEATED);
    agree::<Option<Lists>>(REPEATED);
    agree::<Page>(REPEATED);
    agree::<Strict>(REPEATED);
    agree::<HashMap<String, String>>(REPEATED);
    agree::<HashMap<String, Vec<String>>>(REPEATED);
    agree::<Vec<(String, String)>>(REPEATED);
    agree::<()>(REPEATED);
    assert_eq!(
        fast::query::<Lists>("tag=x&q=a&tag=y&tag=z").map(|l| l.tag),
        Some(vec!["x".to_owned(), "y".to_owned(), "z".to_owned()])
    );
    // Up to 64 pairs are grouped here; past them, the search answers.
    let most: Vec<String> = (0..63).map(|i| format!("tag={i}")).collect();
    let most = format!("{}&q=a", most.join("&"));
    let read = fast::query::<Lists>(&most).map(|l| (l.tag.len(), l.tag[62].clone(), l.q));
    assert_eq!(read, Some((63, "62".to_owned(), "a".to_owned())));
    assert_eq!(agree::<Lists>(&[&most]), 1);
    let many: Vec<String> = (0..70).map(|i| format!("tag={i}")).collect();
    let many = format!("q=a&{}", many.join("&"));
    assert!(fast::query::<Lists>(&many).is_none());
    assert!(from_query::<Lists>(&many).is_ok());
}

/// For each query, what the grouped fast path reads of its pairs, taking the first value of
/// a repeated key (as headers are read) and the last (as queries, forms and cookies are),
/// is what the search reads, wherever the fast path answers.
fn grouped_agree<'q, T: DeserializeOwned + PartialEq + Debug>(
    queries: impl IntoIterator<Item = &'q &'q str>,
) {
    use std::borrow::Cow;

    use super::super::{Repeated, from_pairs_repaired};

    for query in queries {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for (first, repeated) in [(true, Repeated::First), (false, Repeated::Last)] {
            let read = fast::pairs_grouping::<T>(
                borrowed
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v))),
                first,
            );
            if let Some(read) = read {
                let searched = from_pairs_repaired::<T>("header", &borrowed, repeated)
                    .unwrap_or_else(|_| panic!("{query}: read here, not by the search"));
                assert_eq!(read, searched, "{query} (first: {first})");
            }
        }
    }
}

#[test]
fn grouped_pairs_take_the_first_value_where_the_search_does() {
    use std::borrow::Cow;

    grouped_agree::<Lists>(REPEATED.iter().chain(QUERIES));
    let first = fast::pairs_grouping::<Lists>(
        [("q", "a"), ("q", "b")].map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v))),
        true,
    );
    assert_eq!(first.map(|l| l.q), Some("a".to_owned()));
}

#[test]
fn a_query_is_split_and_decoded_as_form_urlencoded_does() {
    let queries = [
        "",
        "&",
        "&&a=1&&",
        "a",
        "a=",
        "=",
        "=b",
        "a==b",
        "a=1&b=2&a=3",
        "limit=5",
        "a+b=c+d",
        "q=hello%20world",
        "%zz=%4",
        "%C3%A9=%FF",
        "é=ü&ü",
        "a=b=c&d",
        "+=+&%2B=%26",
    ];
    for query in queries {
        let ours: Vec<_> = fast::QueryPairs(query).collect();
        let theirs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
        assert_eq!(ours, theirs, "{query}");
    }
}

/// When the path fast path answers, the search answers the same; every route's parameters
/// are tried.
fn path_agrees<T: DeserializeOwned + PartialEq + Debug>(routes: &[&[(&str, &str)]]) -> usize {
    let mut fast_answers = 0;
    for params in routes {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(value) = fast::path::<T>(&params) {
            fast_answers += 1;
            match super::super::every_problem_of_path::<T>(&params) {
                Ok(searched) => assert_eq!(value, searched, "{params:?}"),
                Err(problems) => {
                    panic!("{params:?}: fast path answered {value:?}, search {problems:?}")
                }
            }
        }
    }
    fast_answers
}

const ROUTES: &[&[(&str, &str)]] = &[
    &[],
    &[("id", "7")],
    &[("id", "+7")],
    &[("id", "x")],
    &[("id", "-1")],
    &[("id", "")],
    &[("id", "Asc")],
    &[("id", "true")],
    &[("id", "a b")],
    &[("user", "1"), ("item", "2")],
    &[("item", "2"), ("user", "1")],
    &[("user", "1"), ("item", "x")],
    &[("user", "1"), ("item", "2"), ("extra", "3")],
    &[("user", "1"), ("slug", "hello")],
];

#[derive(Debug, Deserialize, PartialEq)]
struct Pair {
    user: u32,
    item: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct StrictPair {
    user: u32,
    item: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Id(u64);

#[derive(Debug, Deserialize, PartialEq)]
struct TwoInts(u32, u32);

#[test]
fn the_path_fast_path_never_disagrees_with_the_search() {
    assert!(path_agrees::<u64>(ROUTES) >= 2, "a good single value");
    assert!(path_agrees::<(u32, u32)>(ROUTES) >= 2, "a good tuple");
    assert!(path_agrees::<Pair>(ROUTES) >= 3, "a good struct");
    path_agrees::<i64>(ROUTES);
    path_agrees::<u8>(ROUTES);
    path_agrees::<bool>(ROUTES);
    path_agrees::<char>(ROUTES);
    path_agrees::<f64>(ROUTES);
    path_agrees::<String>(ROUTES);
    path_agrees::<Option<u64>>(ROUTES);
    path_agrees::<Option<String>>(ROUTES);
    path_agrees::<Order>(ROUTES);
    path_agrees::<Id>(ROUTES);
    path_agrees::<()>(ROUTES);
    path_agrees::<(u32,)>(ROUTES);
    path_agrees::<(u32, String)>(ROUTES);
    path_agrees::<(u32, u32, u32)>(ROUTES);
    path_agrees::<TwoInts>(ROUTES);
    path_agrees::<Vec<String>>(ROUTES);
    path_agrees::<Vec<u32>>(ROUTES);
    path_agrees::<StrictPair>(ROUTES);
    path_agrees::<HashMap<String, String>>(ROUTES);
    path_agrees::<HashMap<String, u32>>(ROUTES);
}

#[test]
fn bad_path_parameters_go_to_the_search() {
    let params = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert!(fast::path::<u64>(&params(&[("id", "x")])).is_none());
    assert!(fast::path::<u64>(&params(&[("a", "1"), ("b", "2")])).is_none());
    assert!(fast::path::<(u32, u32)>(&params(&[("a", "1")])).is_none());
    assert_eq!(
        fast::path::<(u32, u32)>(&params(&[("a", "1"), ("b", "2")])),
        Some((1, 2))
    );
}

/// More shapes of repeated keys, read grouped here and by the search: serde's `alias`,
/// `rename`, `skip`, `flatten`, `deny_unknown_fields`, enums (unit, newtype, untagged,
/// internally tagged), `Value`, arrays, sets, nested lists, `Option<Option<_>>`, empty
/// values, percent-encoded keys; last and first.
mod repeated_shapes {
    use std::collections::{BTreeSet, HashMap};

    use serde::Deserialize;

    use super::{Order, agree, grouped_agree};

    #[derive(Debug, Deserialize, PartialEq)]
    struct Aliased {
        #[serde(alias = "t")]
        #[serde(default)]
        tag: Vec<String>,
        #[serde(rename = "n", default)]
        number: Option<Vec<u8>>,
        #[serde(skip)]
        skipped: u8,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Flat {
        q: String,
        #[serde(flatten)]
        rest: HashMap<String, String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Deny {
        #[serde(default)]
        tag: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Shape {
        Dot,
        Size(u8),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(untagged)]
    enum Loose {
        Many(Vec<String>),
        One(String),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Tags(Vec<String>);

    #[derive(Debug, Deserialize, PartialEq)]
    struct Mixed {
        e: Option<Vec<Order>>,
        s: Option<Shape>,
        l: Option<Loose>,
        v: Option<serde_json::Value>,
        a: Option<[u8; 2]>,
        set: Option<BTreeSet<String>>,
        nested: Option<Vec<Vec<String>>>,
        oo: Option<Option<u8>>,
        tags: Option<Tags>,
        opts: Option<Vec<Option<u8>>>,
        b: Option<Vec<bool>>,
        c: Option<Vec<char>>,
        bx: Option<Box<str>>,
        unit: Option<()>,
        ig: Option<serde::de::IgnoredAny>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "kind")]
    enum Tagged {
        A { x: Vec<u8> },
    }

    const QUERIES: &[&str] = &[
        "tag=a&t=b",
        "tag=a&t=b&tag=c",
        "t=a&t=b",
        "n=1&n=2",
        "n=1&n=x",
        "n=x&n=1",
        "skipped=1&skipped=2",
        "q=a&q=b&x=1",
        "q=a&x=1&x=2",
        "tag=a&tag=b&other=1",
        "e=Asc&e=Desc",
        "e=Asc&e=Up",
        "s=Dot&s=Dot",
        "s=Size&s=Dot",
        "l=a&l=b",
        "l=a",
        "v=1&v=2",
        "a=1&a=2",
        "a=1&a=2&a=3",
        "a=1",
        "set=b&set=a&set=b",
        "nested=a&nested=b",
        "oo=1&oo=2",
        "oo=&oo=1",
        "oo=1&oo=",
        "tags=x&tags=y",
        "opts=1&opts=",
        "opts=1&opts=2",
        "b=on&b=No&b=1",
        "b=on&b=",
        "c=x&c=%C3%A9",
        "c=x&c=",
        "bx=a&bx=b",
        "unit=&unit=",
        "unit=x&unit=",
        "ig=1&ig=2",
        "kind=A&x=1&x=2",
        "t%61g=a&tag=b",
        "tag=a&tag%00=b",
        "=a&=b&tag=x",
        "tag&tag",
    ];

    #[test]
    fn repeated_keys_of_every_shape_agree_with_the_search() {
        agree::<Aliased>(QUERIES);
        agree::<Flat>(QUERIES);
        agree::<Deny>(QUERIES);
        agree::<Mixed>(QUERIES);
        agree::<Tagged>(QUERIES);
        agree::<Option<Mixed>>(QUERIES);
        grouped_agree::<Mixed>(QUERIES);
        grouped_agree::<Aliased>(QUERIES);
    }
}
