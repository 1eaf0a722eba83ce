#!/usr/bin/env python3
"""Deterministic generator of a synthetic EHR SQLite database (no real patient).

Same arguments + same SQLite version => byte-identical file. Python stdlib only.

    python3 scripts/gen-ehr-sqlite.py --out fixtures/ehr.sqlite            # ~1 MB fixture
    python3 scripts/gen-ehr-sqlite.py --out /tmp/big.sqlite --size-mb 1000 # benchmark
    python3 scripts/gen-ehr-sqlite.py --out /tmp/t.sqlite --text-in-real 5  # text in a REAL column
"""
import argparse
import hashlib
import os
import random
import sqlite3
import sys
import time

SCHEMA = """
CREATE TABLE patients (
    id          INTEGER PRIMARY KEY,
    mrn         TEXT NOT NULL UNIQUE,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    birth_date  TEXT NOT NULL,
    sex         TEXT NOT NULL CHECK (sex IN ('F', 'M', 'X', 'U')),
    address     TEXT,
    phone       TEXT
);
CREATE TABLE encounters (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER NOT NULL REFERENCES patients(id),
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    kind        TEXT NOT NULL,
    department  TEXT NOT NULL
);
CREATE TABLE observations (
    id           INTEGER PRIMARY KEY,
    encounter_id INTEGER NOT NULL REFERENCES encounters(id),
    patient_id   INTEGER NOT NULL REFERENCES patients(id),
    code         TEXT NOT NULL,
    value_num    REAL,
    value_text   TEXT,
    unit         TEXT,
    observed_at  TEXT NOT NULL
);
CREATE TABLE medications (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER NOT NULL REFERENCES patients(id),
    name        TEXT NOT NULL,
    dose_mg     REAL NOT NULL,
    route       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    stopped_at  TEXT
);
CREATE TABLE notes (
    id           INTEGER PRIMARY KEY,
    encounter_id INTEGER NOT NULL REFERENCES encounters(id),
    author       TEXT NOT NULL,
    written_at   TEXT NOT NULL,
    body         TEXT
);
CREATE TABLE documents (
    id         INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    mime_type  TEXT NOT NULL,
    filename   TEXT NOT NULL,
    content    BLOB NOT NULL,
    sha256     TEXT NOT NULL
);
"""
# Created after the bulk load: much faster than maintaining them row by row.
INDEXES = """
CREATE INDEX encounters_patient ON encounters(patient_id, started_at);
CREATE INDEX observations_encounter ON observations(encounter_id);
CREATE INDEX observations_patient_code ON observations(patient_id, code, observed_at);
CREATE INDEX medications_patient ON medications(patient_id);
CREATE INDEX notes_encounter ON notes(encounter_id);
CREATE INDEX documents_patient ON documents(patient_id);
"""
TABLES = ("patients", "encounters", "observations", "medications", "notes", "documents")

# Average bytes one generated patient adds to the file (measured; used to turn
# --size-mb into a patient count, so the final size is only approximate).
BYTES_PER_PATIENT = 22_000

GIVEN = ["Anna", "José", "Zoë", "Mohammed", "Siobhán", "Łukasz", "Chloé", "Björn", "Aiko", "Wei",
         "Fatima", "John", "María", "Nguyễn Văn", "Olúwaseun", "Ingrid", "Dmitri", "Priya",
         "Søren", "Emily", "Hiroshi", "Amélie", "محمد", "明", "Юлия"]
FAMILY = ["Smith", "O'Brien", "Müller", "García", "Nguyễn", "Kowalski", "Dubois", "Sato",
          "Chen", "Haddad", "Johansson", "Smith-Jones", "Ó Súilleabháin", "van der Berg",
          "Papadopoulos", "Ivanova", "Okafor", "Singh", "王", "鈴木", "الحسن", "D'Angelo"]
STREETS = ["Main St", "Rue de la Paix", "Königsallee", "Calle Mayor", "Elm Rd", "Via Roma",
           "High Street", "Sakura-dōri", "Oak Avenue"]
CITIES = ["Springfield", "Montréal", "München", "São Paulo", "Kraków", "Zürich", "東京",
          "Reykjavík", "Oslo"]
KINDS = ["outpatient", "outpatient", "outpatient", "inpatient", "emergency", "telehealth",
         "home-visit"]
DEPARTMENTS = ["General Medicine", "Cardiology", "Emergency", "Oncology", "Orthopaedics",
               "Pédiatrie", "Neurology", "Radiology", "Obstetrics & Gynaecology"]
# (LOINC-like code, unit, low, high, decimals) for numeric results...
NUMERIC_OBS = [("8867-4", "/min", 40, 160, 0), ("8480-6", "mm[Hg]", 85, 200, 0),
               ("8462-4", "mm[Hg]", 45, 120, 0), ("8310-5", "Cel", 35.0, 41.0, 1),
               ("29463-7", "kg", 2.5, 180.0, 1), ("8302-2", "cm", 45.0, 205.0, 1),
               ("2339-0", "mg/dL", 50, 400, 0), ("718-7", "g/dL", 6.0, 19.0, 1),
               ("2160-0", "mg/dL", 0.3, 9.0, 2), ("4548-4", "%", 4.0, 14.0, 1),
               ("2951-2", "mmol/L", 120, 160, 0), ("6690-2", "10*3/uL", 1.0, 30.0, 2)]
# ...and qualitative ones (value_text).
TEXT_OBS = [("72166-2", ["Never smoker", "Former smoker", "Current every day smoker"]),
            ("5778-6", ["Yellow", "Amber", "Straw", "Red"]),
            ("94500-6", ["Not detected", "Detected", "Inconclusive"]),
            ("883-9", ["O", "A", "B", "AB"])]
MEDS = [("Metformin", 500, 1000), ("Lisinopril", 5, 40), ("Atorvastatin", 10, 80),
        ("Amoxicillin", 250, 875), ("Paracetamol", 500, 1000), ("Levothyroxine", 0.025, 0.2),
        ("Insulin glargine", 0.1, 2.0), ("Warfarin", 1, 10), ("Salbutamol", 0.1, 0.2),
        ("Ibuprofen", 200, 800)]
ROUTES = ["oral", "oral", "oral", "IV", "SC", "inhaled", "topical", "IM"]
AUTHORS = ["Dr. Émile Laurent", "Dr. Sarah O'Connor", "Nurse Kim Ji-woo", "Dr. 田中 健",
           "Dr. أحمد خالد", "PA José Núñez"]
# Note fragments: accents, CJK, Arabic (RTL), emoji incl. ZWJ sequences, combining
# characters (decomposed e + U+0301 vs precomposed é), quotes, SQL-ish text, newlines.
FRAGMENTS = [
    "Patient seen for follow-up. Vitals stable.",
    "Pt reports mild headache; denies fever.",
    "Résumé: état général conservé, pas de fièvre.",
    "Décomposé: cafe\u0301 vs café (precomposed).",
    "患者の血圧は正常範囲内です。",
    "病人情况稳定，建议两周后复诊。",
    "المريض بحالة جيدة ولا يعاني من الحمى.",
    "Mood 🙂, pain 2/10 💊, nurse 👩\u200d⚕️ informed; family 👨\u200d👩\u200d👧.",
    "Quotes: 'single', \"double\", `backtick`; O'Brien said \"fine\".",
    "Plan:\n- continue meds\n- recheck labs in 3 months\n",
    "Line one\r\nLine two (CRLF)\r\n",
    "Tab\tseparated\tvalues and a backslash \\ and 100% done.",
    "Robert'); DROP TABLE patients;-- (just text)",
    "Z\u0351\u0300a\u0336l\u0315g\u0358o combining marks; Hangul 한국어; Devanagari नमस्ते.",
    "Math: x² + y² ≤ 1, ±0.5 µg, 37 °C, €12,50.",
]
# Magic headers make the pseudo-random payloads look like their MIME type.
MIME = [("application/pdf", "pdf", b"%PDF-1.7\n"), ("image/jpeg", "jpg", b"\xff\xd8\xff\xe0"),
        ("image/png", "png", b"\x89PNG\r\n\x1a\n"), ("text/plain", "txt", b""),
        ("application/dicom", "dcm", b"\0" * 128 + b"DICM"),
        ("application/octet-stream", "bin", b"")]
DOC_NAMES = ["lab-report", "discharge summary", "x-ray", "consent", "résumé médical",
             "報告書", "referral letter", "ecg"]

T_MIN = 1420070400  # 2015-01-01T00:00:00Z
T_MAX = 1735603200  # 2024-12-31T00:00:00Z


def ts(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output database path")
    p.add_argument("--size-mb", type=float, default=1.0,
                   help="approximate target size in MiB (default 1: the small fixture)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--journal-mode", choices=("wal", "delete"), default="wal",
                   help="journal mode of the finished file (default wal)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    p.add_argument("--text-in-real", type=int, default=0, metavar="N",
                   help="store text ('pending', 'n/a', '<5') in N rows of observations.value_num, a REAL "
                        "column, as applications do (default 0: none)")
    p.add_argument("--no-edge-rows", action="store_true",
                   help="leave out the fixed boundary rows (int64 ids, 1e-300, infinities): for benchmarks "
                        "against tools that fail on them")
    a = p.parse_args()
    if a.size_mb <= 0:
        p.error("--size-mb must be > 0")
    return a


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.rows = {t: [] for t in TABLES}
        self.next_id = {t: 1 for t in TABLES}

    def nid(self, table):
        i = self.next_id[table]
        self.next_id[table] = i + 1
        return i

    def body(self):
        r = self.r
        x = r.random()
        if x < 0.05:
            return None
        if x < 0.10:
            return ""
        n = r.randint(1, 6) if x < 0.98 else r.randint(40, 120)  # a few long notes (overflow pages)
        return "\n".join(r.choice(FRAGMENTS) for _ in range(n))

    def patient(self):
        r = self.r
        pid = self.nid("patients")
        address = None if r.random() < 0.05 else (
            f"{r.randint(1, 9999)} {r.choice(STREETS)}\n{r.choice(CITIES)} {r.randint(10000, 99999)}")
        phone = None if r.random() < 0.1 else f"+{r.randint(1, 99)} {r.randint(100, 999)} {r.randint(1000000, 9999999)}"
        birth = ts(r.randint(-2208988800, 1704067200))[:10]  # 1900..2024
        self.rows["patients"].append((pid, f"MRN{pid:08d}", r.choice(GIVEN), r.choice(FAMILY),
                                      birth, r.choice("FFMMMFXU"), address, phone))
        for _ in range(r.randint(1, 6)):
            self.encounter(pid)
        for _ in range(r.randint(0, 4)):
            self.medication(pid)
        for _ in range(r.randint(0, 3)):
            self.document(pid)

    def encounter(self, pid):
        r = self.r
        eid = self.nid("encounters")
        kind = r.choice(KINDS)
        start = r.randint(T_MIN, T_MAX)
        length = r.randint(600, 14 * 86400) if kind == "inpatient" else r.randint(600, 4 * 3600)
        end = None if r.random() < 0.05 else start + length
        self.rows["encounters"].append((eid, pid, ts(start), None if end is None else ts(end),
                                        kind, r.choice(DEPARTMENTS)))
        obs = self.rows["observations"]
        for _ in range(r.randint(0, 20)):
            at = ts(start + r.randint(0, length))
            if r.random() < 0.8:
                code, unit, lo, hi, dec = r.choice(NUMERIC_OBS)
                v = round(r.uniform(lo, hi), dec)
                obs.append((self.nid("observations"), eid, pid, code, v, None, unit, at))
            else:
                code, values = r.choice(TEXT_OBS)
                # ~10% pending: both value columns NULL
                v = None if r.random() < 0.1 else r.choice(values)
                obs.append((self.nid("observations"), eid, pid, code, None, v, None, at))
        for _ in range(r.choices((0, 1, 2), (2, 6, 2))[0]):
            self.rows["notes"].append((self.nid("notes"), eid, r.choice(AUTHORS),
                                       ts(start + r.randint(0, length + 3600)), self.body()))

    def medication(self, pid):
        r = self.r
        name, lo, hi = r.choice(MEDS)
        start = r.randint(T_MIN, T_MAX)
        stop = None if r.random() < 0.4 else ts(start + r.randint(86400, 365 * 86400))
        self.rows["medications"].append((self.nid("medications"), pid, name,
                                         round(r.uniform(lo, hi), 3), r.choice(ROUTES), ts(start), stop))

    def document(self, pid):
        r = self.r
        mime, ext, magic = r.choice(MIME)
        n = 0 if r.random() < 0.03 else r.randint(200, 20 * 1024)
        content = (magic + r.randbytes(n))[:n] if n else b""
        did = self.nid("documents")
        fname = f"{r.choice(DOC_NAMES)} {did:06d}.{ext}"
        self.rows["documents"].append((did, pid, mime, fname, content,
                                       hashlib.sha256(content).hexdigest()))

    def edge_cases(self):
        """Fixed rows exercising boundary values; inserted before the random ones."""
        # Patients: NULL vs '' optional fields, quotes, leading-zero-looking MRN, old/leap dates.
        self.rows["patients"] += [
            (900000001, "0000001", "Seán", "O'Brien", "1900-01-01", "M", None, None),
            (900000002, "0000002", "", "Empty-Strings", "2000-02-29", "F", "", ""),
            (900000003, "MRN with space", "李", "王", "1969-07-20", "X",
             'Apt "B"\n12 Rue d\'Alésia\nParis', "+33 1 23 45 67 89"),
        ]
        self.rows["encounters"] += [
            (900000001, 900000001, "2024-02-29T23:59:59Z", None, "inpatient", "Emergency"),
            (900000002, 900000002, "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "outpatient", ""),
        ]
        # Extreme INTEGER PRIMARY KEYs (int64 min/max, 0) and extreme/awkward REALs.
        # NaN is not storable in SQLite (it becomes NULL), so it is left out on purpose.
        reals = [0.1, 1e-300, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308,
                 float("inf"), float("-inf"), 123456789.123456789, 9007199254740992.0, -2.5, 0.0]
        obs = [(9223372036854775807, "max int64 id"), (-9223372036854775808, "min int64 id"),
               (0, "zero id")]
        for oid, text in obs:
            self.rows["observations"].append(
                (oid, 900000001, 900000001, "X-EDGE", None, text, None, "2024-02-29T23:59:59Z"))
        for i, v in enumerate(reals):
            self.rows["observations"].append(
                (900000000 + i, 900000002, 900000002, "X-EDGE-REAL", v, repr(v), "1", "2000-01-01T00:00:00Z"))
        self.rows["observations"].append(  # a number-looking TEXT value stays text ('007')
            (900000100, 900000002, 900000002, "X-EDGE-TEXT", None, "007", "", "2000-01-01T00:00:00Z"))
        self.rows["medications"] += [
            (900000001, 900000001, "Levothyroxine", 0.025, "oral", "2024-02-29T08:00:00Z", None),
            (900000002, 900000002, "Tiny dose", 1e-300, "IV", "2000-01-01T00:00:00Z", ""),
        ]
        self.rows["notes"] += [
            (900000001, 900000001, "Dr. Émile Laurent", "2024-02-29T23:59:59Z", None),
            (900000002, 900000001, "Dr. Émile Laurent", "2024-02-29T23:59:59Z", ""),
            (900000003, 900000002, "Dr. 田中 健", "2000-01-01T00:00:00Z", "\n".join(FRAGMENTS)),
        ]
        for did, pid, mime, fname, content in [
            (900000001, 900000001, "application/octet-stream", "empty.bin", b""),
            (900000002, 900000002, "application/octet-stream", "all-bytes.bin", bytes(range(256)) * 4),
            (900000003, 900000003, "text/plain", "note with 'quotes' & spaces.txt",
             "Ünïcödé ✓ 日本語\n".encode()),
        ]:
            self.rows["documents"].append(
                (did, pid, mime, fname, content, hashlib.sha256(content).hexdigest()))

    def flush(self, con):
        for t in TABLES:
            rows = self.rows[t]
            if rows:
                ph = ",".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO {t} VALUES ({ph})", rows)
                rows.clear()


def main():
    a = parse_args()
    if os.path.lexists(a.out) and not a.force:
        sys.exit(f"error: {a.out} exists (use --force to overwrite)")
    tmp = a.out + ".partial"
    for f in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
        if os.path.lexists(f):
            os.remove(f)

    started = time.monotonic()
    n_patients = max(20, round(a.size_mb * 1024 * 1024 / BYTES_PER_PATIENT))
    g = Gen(random.Random(a.seed))

    # Build under a temporary name so an interrupted run never leaves a half file at --out.
    con = sqlite3.connect(tmp, isolation_level=None)
    for pragma in ("page_size=4096", "encoding='UTF-8'", "auto_vacuum=NONE", "journal_mode=OFF",
                   "synchronous=OFF", "locking_mode=EXCLUSIVE", "cache_size=-262144",
                   "user_version=3"):
        con.execute(f"PRAGMA {pragma}")
    con.executescript(SCHEMA)
    con.execute("BEGIN")
    if not a.no_edge_rows:
        g.edge_cases()
    for i in range(n_patients):
        g.patient()
        if i % 2000 == 1999:  # bounded memory; big transactions
            g.flush(con)
            con.execute("COMMIT")
            con.execute("BEGIN")
    g.flush(con)
    con.execute("COMMIT")
    con.executescript(INDEXES)
    if a.text_in_real > 0:
        # Evenly spread over the numeric observations, deterministic for a given database.
        n = con.execute("SELECT count(*) FROM observations WHERE typeof(value_num) = 'real'").fetchone()[0]
        step = max(1, n // a.text_in_real)
        con.execute("""
            UPDATE observations SET value_num = CASE id % 3 WHEN 0 THEN 'pending' WHEN 1 THEN 'n/a' ELSE '<5' END
            WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS k FROM observations
                                         WHERE typeof(value_num) = 'real') WHERE k % ? = 0 LIMIT ?)""",
                    (step, a.text_in_real))
    bad = con.execute("PRAGMA foreign_key_check").fetchall()
    if bad:
        sys.exit(f"error: foreign key violations: {bad[:5]}")
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}

    # Final journal mode. For WAL: checkpoint+truncate, and closing the last
    # connection removes the -wal/-shm files, so only the main file remains.
    con.execute("PRAGMA locking_mode=NORMAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute(f"PRAGMA journal_mode={a.journal_mode.upper()}")
    if a.journal_mode == "wal":
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for f in (tmp + "-wal", tmp + "-shm", tmp + "-journal"):
        if os.path.lexists(f):
            sys.exit(f"error: {f} left behind")
    os.replace(tmp, a.out)

    size = os.path.getsize(a.out)
    rows = " ".join(f"{t}={n}" for t, n in counts.items())
    print(f"{a.out}: {size} bytes ({size / 1048576:.2f} MiB), journal={a.journal_mode}, "
          f"seed={a.seed}, {time.monotonic() - started:.1f}s; rows: {rows}")


if __name__ == "__main__":
    main()
