"""Schemathesis hooks for the fuzz test (tests/tests/fuzz.rs).

The document marks IBANs with `format: iban`: their check digits cannot be written as a
pattern, so this teaches the generator to make IBANs a bank would accept (ISO 13616: the two
check digits make the number, with the country moved to the end, 1 modulo 97).
"""

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
