//! C2SP tlog-tiles: the tile paths `/ledger/tile/…` answers, and the tile bodies (hash
//! tiles, entry bundles) a mirror or `writ ledger verify` reads.
//!
//! The first byte picks the input: 0 a path after `tile/`, 1 an entry bundle, 2 a hash tile.
//!
//! Properties: a path that parses is the one canonical spelling of its tile (printing the
//! parsed tile gives the same path back); an entry bundle that decodes encodes back to the
//! same bytes; a hash tile that splits joins back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use writ_ledger::tiles::{
    TILE_WIDTH, TileRef, decode_bundle, encode_bundle, entries_path, parse_tile_path, tile_bytes,
    tile_hashes, tile_path,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let Ok(path) = std::str::from_utf8(rest) else {
                return;
            };
            let Some(tile) = parse_tile_path(path) else {
                return;
            };
            let printed = match tile {
                TileRef::Hash {
                    level,
                    index,
                    width,
                } => {
                    assert!((1..=TILE_WIDTH).contains(&width));
                    tile_path(level, index, width)
                }
                TileRef::Entries { index, width } => {
                    assert!((1..=TILE_WIDTH).contains(&width));
                    entries_path(index, width)
                }
            };
            assert_eq!(
                printed.strip_prefix("tile/"),
                Some(path),
                "a tile path that is not the tile's canonical spelling parsed"
            );
        }
        1 => {
            let Ok(entries) = decode_bundle(rest) else {
                return;
            };
            assert!(entries.len() <= TILE_WIDTH as usize);
            let again = encode_bundle(&entries)
                .unwrap_or_else(|e| panic!("a decoded bundle does not encode: {e}"));
            assert_eq!(again, rest);
        }
        _ => {
            let Ok(hashes) = tile_hashes(rest) else {
                return;
            };
            assert!(!hashes.is_empty() && hashes.len() <= TILE_WIDTH as usize);
            assert_eq!(tile_bytes(&hashes), rest);
        }
    }
});
