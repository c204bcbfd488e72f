//! A reader for NumPy `.npy` files (format versions 1 to 3).
//!
//! Only what time series come in is supported: little-endian floats and integers, booleans,
//! one or two dimensions, C or Fortran order. Values are widened to `f64`, and callers narrow them.

use std::path::Path;

use crate::error::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// A numeric array read from a `.npy` file, in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// One or two dimensions, as stored.
    pub shape: Vec<usize>,
    /// The values in C (row-major) order, whatever the file's order.
    pub values: Vec<f64>,
}

impl NpyArray {
    /// Rows and columns: a 1-D array is one column.
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [n] => (*n, 1),
            [rows, cols] => (*rows, *cols),
            _ => unreachable!("shapes are checked when the file is read"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Dtype {
    F64,
    F32,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Dtype> {
        Some(match descr {
            "<f8" => Dtype::F64,
            "<f4" => Dtype::F32,
            "<i8" => Dtype::I64,
            "<i4" => Dtype::I32,
            "<i2" => Dtype::I16,
            "|i1" => Dtype::I8,
            "|u1" => Dtype::U8,
            "|b1" => Dtype::Bool,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    fn decode(self, bytes: &[u8]) -> f64 {
        match self {
            Dtype::F64 => f64::from_le_bytes(bytes.try_into().unwrap()),
            Dtype::F32 => f32::from_le_bytes(bytes.try_into().unwrap()) as f64,
            Dtype::I64 => i64::from_le_bytes(bytes.try_into().unwrap()) as f64,
            Dtype::I32 => i32::from_le_bytes(bytes.try_into().unwrap()) as f64,
            Dtype::I16 => i16::from_le_bytes(bytes.try_into().unwrap()) as f64,
            Dtype::I8 => bytes[0] as i8 as f64,
            Dtype::U8 | Dtype::Bool => bytes[0] as f64,
        }
    }
}

/// Reads a `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(path, &bytes)
}

/// Parses the bytes of a `.npy` file; `path` is only used in messages.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<NpyArray> {
    let invalid = |message: String| Error::data(path, None, message);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(invalid(
            "not a NumPy .npy file (it does not start with \\x93NUMPY); save arrays with \
             numpy.save"
                .into(),
        ));
    }
    let major = bytes[6];
    let (header_len, header_start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => {
            return Err(invalid(format!(
                "unsupported .npy format version {major}; versions 1 to 3 are read"
            )));
        }
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| invalid("the header is cut short or not text".into()))?;

    let descr = header_value(header, "descr")
        .and_then(|v| v.strip_prefix('\'')?.split('\'').next())
        .ok_or_else(|| invalid(format!("no `descr` in the header {header:?}")))?;
    let dtype = Dtype::parse(descr).ok_or_else(|| {
        invalid(format!(
            "dtype {descr:?} is not supported; store little-endian floats, integers or \
             booleans (for example with array.astype('float64'))"
        ))
    })?;
    let fortran = match header_value(header, "fortran_order") {
        Some(v) if v.starts_with("True") => true,
        Some(v) if v.starts_with("False") => false,
        _ => {
            return Err(invalid(format!(
                "no `fortran_order` in the header {header:?}"
            )));
        }
    };
    let shape_text = header_value(header, "shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| invalid(format!("no `shape` in the header {header:?}")))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid(format!("shape ({shape_text}) is not a tuple of sizes")))?;
    if shape.is_empty() || shape.len() > 2 {
        return Err(invalid(format!(
            "the array has shape ({shape_text}); expected one dimension (labels) or two \
             (time steps x sensors)"
        )));
    }

    let count = shape.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
    let expected = count.and_then(|c| c.checked_mul(dtype.size()));
    let data = &bytes[data_start.min(bytes.len())..];
    let (count, expected) = match (count, expected) {
        (Some(c), Some(e)) if data.len() == e => (c, e),
        _ => {
            return Err(invalid(format!(
                "shape ({shape_text}) of {descr} needs {} bytes of data but the file holds {}; \
                 the file is truncated or damaged",
                expected.map_or("more".to_string(), |e| e.to_string()),
                data.len()
            )));
        }
    };
    debug_assert_eq!(count * dtype.size(), expected);
    let mut values: Vec<f64> = data
        .chunks_exact(dtype.size())
        .map(|b| dtype.decode(b))
        .collect();
    if fortran && shape.len() == 2 {
        let (rows, cols) = (shape[0], shape[1]);
        let mut c_order = vec![0.0; values.len()];
        for c in 0..cols {
            for r in 0..rows {
                c_order[r * cols + c] = values[c * rows + r];
            }
        }
        values = c_order;
    }
    Ok(NpyArray { shape, values })
}

/// Finds the text after `'key':` in a header dict, with leading spaces removed.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("'{key}':");
    let at = header.find(&quoted)?;
    Some(header[at + quoted.len()..].trim_start())
}

/// Encodes a 2-D `<f8` array (1-D when `cols` is 0) in format version 1, for tests and examples.
pub fn encode_f64(rows: usize, cols: usize, values: &[f64]) -> Vec<u8> {
    let shape = if cols == 0 {
        format!("({rows},)")
    } else {
        format!("({rows}, {cols})")
    };
    encode(&shape, "<f8", values.iter().flat_map(|v| v.to_le_bytes()))
}

fn encode(shape: &str, descr: &str, data: impl Iterator<Item = u8>) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = MAGIC.to_vec();
    bytes.extend([1, 0]);
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> &'static Path {
        Path::new("a.npy")
    }

    #[test]
    fn reads_what_it_writes() {
        let bytes = encode_f64(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        assert_eq!(bytes[6..8], [1, 0]);
        let array = parse(path(), &bytes).unwrap();
        assert_eq!(array.shape, vec![2, 3]);
        assert_eq!(array.rows_cols(), (2, 3));
        assert_eq!(array.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        let labels = parse(path(), &encode_f64(3, 0, &[0.0, 1.0, 0.0])).unwrap();
        assert_eq!(labels.rows_cols(), (3, 1));
    }

    #[test]
    fn reads_other_dtypes_and_fortran_order() {
        // numpy.save of np.array([[1, 2, 3], [4, 5, 6]], dtype='<i4', order='F'): the values
        // are stored column by column. "True " keeps the header length of "False".
        let fortran = encode(
            "(2, 3)",
            "<i4",
            [1i32, 4, 2, 5, 3, 6].iter().flat_map(|v| v.to_le_bytes()),
        );
        let mut bytes = fortran;
        let at = bytes.windows(5).position(|w| w == b"False").unwrap();
        bytes[at..at + 5].copy_from_slice(b"True ");
        let array = parse(path(), &bytes).unwrap();
        assert_eq!(array.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);

        let bools = encode("(3,)", "|b1", [1u8, 0, 1].into_iter());
        assert_eq!(parse(path(), &bools).unwrap().values, vec![1.0, 0.0, 1.0]);
        let floats = encode(
            "(2,)",
            "<f4",
            [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()),
        );
        assert_eq!(parse(path(), &floats).unwrap().values, vec![1.5, -2.0]);
    }

    #[test]
    fn rejects_damaged_files() {
        let bytes = encode_f64(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let err = parse(path(), &bytes[..bytes.len() - 3]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = parse(path(), b"col1,col2\n1,2\n").unwrap_err();
        assert!(err.to_string().contains("numpy.save"), "{err}");
        let big_endian = encode("(1,)", ">f8", 1f64.to_be_bytes().into_iter());
        let err = parse(path(), &big_endian).unwrap_err();
        assert!(err.to_string().contains("\">f8\""), "{err}");
        let cube = encode("(1, 1, 1)", "<f8", 1f64.to_le_bytes().into_iter());
        let err = parse(path(), &cube).unwrap_err();
        assert!(err.to_string().contains("(1, 1, 1)"), "{err}");
        let objects = encode("(1,)", "|O", [0u8; 8].into_iter());
        assert!(parse(path(), &objects).is_err());
    }
}
