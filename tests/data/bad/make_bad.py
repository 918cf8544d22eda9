#!/usr/bin/env python3
"""Regenerates the malformed-input corpus of tests/readers (run from this folder).

Each file exercises one error of ds_read_libsvm / ds_read_idx_* /
ds_fashion_mnist; tests/readers/test_bad.c lists the expected status and
message for each. Files named ok_* must be accepted. gzip files are made
with `gzip -n` (no name, no time stamp) so that they are reproducible.
"""
import os
import struct
import subprocess


def write(name, data):
    with open(name, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def gzip_n(data):
    return subprocess.run(["gzip", "-n", "-9", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", v) for v in dims) + bytes(payload)


# ---- LIBSVM / SVMlight text
write("svm_nonnumeric_value.svm", "+1 1:0.5 2:abc\n")
write("svm_nonnumeric_index.svm", "-1 1:1\n+1 x2:1\n")
write("svm_nonnumeric_label.svm", "+1 1:1\nyes 1:1\n")
write("svm_bad_label.svm", "2 1:1\n")
write("svm_mixed_labels.svm", "0 1:1\n1 1:3\n-1 1:2\n")
write("svm_index_2p40.svm", "+1 1099511627776:1.0\n")
write("svm_index_2p31.svm", "+1 1:1\n+1 2147483648:1\n")
write("svm_index_zero.svm", "+1 0:1 1:2\n")
write("svm_out_of_order.svm", "+1 1:1 3:1\n-1 2:1 5:1 4:1\n")
write("svm_duplicate.svm", "+1 1:1 2:1 2:3\n")
write("svm_nan.svm", "+1 1:1\n-1 1:nan\n")
write("svm_inf.svm", "+1 1:-inf\n")
write("svm_overflow.svm", "+1 1:1e999\n")
write("svm_missing_colon.svm", "+1 1:1 7\n")
write("svm_empty_value.svm", "+1 1:\n")
write("svm_qid_late.svm", "+1 1:1 qid:3\n")
write("svm_nul_byte.svm", b"+1 1:1\n-1 1:\x002\n")
write("svm_empty.svm", "")
write("svm_comments_only.svm", "# nothing but comments\n\n   \n# and blanks\n")
# Accepted: CRLF, whole-line and trailing comments, blank lines, tabs, qid,
# a label-only sample, no newline at the end.
write("ok_crlf_comments.svm",
      "# a comment line\r\n\r\n+1 1:0.5 3:-2 # trailing comment\r\n   \r\n"
      "-1\t2:1e-3\r\n+1 qid:7 1:1.5 4:0\r\n-1\r\n-1 3:4")

# ---- IDX (unsigned-byte images 0x803: n x rows x cols, labels 0x801: n)
img3 = idx(0x803, [3, 2, 2], range(12))           # a valid 3-image file, 28 bytes
write("img_header_cut.idx3", img3[:10])
write("img_bad_magic.idx3", idx(0x804, [3, 2, 2], range(12)))
write("img_zero_rows.idx3", idx(0x803, [3, 0, 2], []))
write("img_data_cut.idx3", img3[:16 + 8])
write("img_data_cut.idx3.gz", gzip_n(img3[:16 + 8]))
write("img_trailing.idx3", img3 + b"\x07")
write("img_absurd_dims.idx3", idx(0x803, [2**31 - 1] * 3, []))
write("img_lying_header.idx3", idx(0x803, [1000000, 28, 28], range(16)))  # 784 MB announced
gz = gzip_n(img3)
write("img_gzip_truncated.idx3.gz", gz[:len(gz) // 2])
write("img_gzip_no_trailer.idx3.gz", gz[:-4])
bad_crc = bytearray(gz)
bad_crc[-8] ^= 0xFF                                 # first byte of the CRC-32
write("img_gzip_bad_crc.idx3.gz", bytes(bad_crc))
write("lbl_bad_magic.idx1", img3)                  # an image file where labels are expected
write("lbl_more_than_present.idx1", idx(0x801, [5], [1, 2, 3]))
write("lbl_empty.idx1", b"")

# ---- Fashion-MNIST folders
os.makedirs("fashion_count_mismatch", exist_ok=True)
write("fashion_count_mismatch/train-images-idx3-ubyte", img3)
write("fashion_count_mismatch/train-labels-idx1-ubyte", idx(0x801, [2], [0, 1]))
os.makedirs("fashion_bad_label", exist_ok=True)
write("fashion_bad_label/t10k-images-idx3-ubyte.gz", gzip_n(img3))
write("fashion_bad_label/t10k-labels-idx1-ubyte.gz", gzip_n(idx(0x801, [3], [0, 10, 1])))
