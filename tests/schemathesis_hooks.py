"""Schemathesis hooks for the fuzz test (tests/tests/e2e/fuzz.rs).

The document marks IBANs with `format: iban`: their check digits cannot be written as a
pattern, so this teaches the generator to make IBANs a bank would accept (ISO 13616: the two
check digits make the number, with the country moved to the end, 1 modulo 97).
"""

import json
import os
import zlib

import schemathesis
from hypothesis import strategies as st

# Countries whose account part (BBAN) is easy to generate: (country, alphabet, length) parts.
BBAN_LAYOUTS = {
    "DE": [("0123456789", 18)],
    "GB": [("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4), ("0123456789", 14)],
    "NL": [("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4), ("0123456789", 10)],
}


def with_check_digits(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


@st.composite
def ibans(draw) -> str:
    country = draw(st.sampled_from(sorted(BBAN_LAYOUTS)))
    bban = "".join(
        draw(st.text(alphabet, min_size=length, max_size=length))
        for alphabet, length in BBAN_LAYOUTS[country]
    )
    return with_check_digits(country, bban)


schemathesis.openapi.format("iban", ibans())


def _generated_here(iban: str) -> bool:
    """Whether `iban` is one `ibans()` makes: a known layout with valid check digits."""
    country, bban = iban[:2], iban[4:]
    layout = BBAN_LAYOUTS.get(country)
    if layout is None or len(bban) != sum(length for _, length in layout):
        return False
    position = 0
    for alphabet, length in layout:
        if any(c not in alphabet for c in bban[position : position + length]):
            return False
        position += length
    return with_check_digits(country, bban) == iban


@schemathesis.hook
def before_call(context, case, kwargs):
    """The coverage phase writes boundary strings for `format: iban` (e.g. 99 zeros) without the
    generator above, and a schema-valid request must then be accepted. Such an IBAN, when the
    schema allows it (a string of at most 100 characters), becomes a valid one, so the case
    still tests what it was made for; a schema-violating IBAN is left for the negative checks."""
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("payment_details"), dict):
        return
    details = body["payment_details"].get("details")
    if not isinstance(details, dict):
        return
    iban = details.get("iban")
    if isinstance(iban, str) and len(iban) <= 100 and "\0" not in iban and not _generated_here(iban):
        details["iban"] = with_check_digits("DE", f"{zlib.crc32(iban.encode()):018d}")


@schemathesis.hook
def after_call(context, case, response):
    """Writes down the members of every JSON answer (and of the items of a list), one JSON
    line each, into the file `STOCKROOM_RESPONSE_LOG` names: the fuzz test then checks that a
    member every answer of an operation carried is `required` in the document."""
    log = os.environ.get("STOCKROOM_RESPONSE_LOG")
    if not log:
        return
    try:
        body = response.json()
    except Exception:
        return
    if not isinstance(body, dict):
        return
    items = body.get("items")
    item_keys = None
    if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
        item_keys = sorted(set.intersection(*(set(i) for i in items)))
    line = {
        "method": case.method.lower(),
        "path": case.operation.path,
        "status": response.status_code,
        "keys": sorted(body),
        "item_keys": item_keys,
    }
    with open(log, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
