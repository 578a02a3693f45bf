"""What the laptop and the provincial server share, and nothing else: the server and this
package import nothing from the laptop core (``fieldapp``) or the desktop app (``ui``).

- ``wire``: endpoints, limits, message types, body encoding and the checks of every record;
- ``fields``: each synced entity's fields, their types and maximum lengths;
- ``hlc``: the one hybrid logical clock;
- ``signing``: device keys, signed USB batch and ack files;
- ``receipt_qr``: the receipt signature, its QR payload and verification code;
- ``sheets``: what a spreadsheet cell may hold (no text that starts a formula), for every CSV
  and XLSX export of either end;
- leaves both ends use: ``clock`` (injected time), ``ids`` (UUIDv7), ``errors`` (the error
  base), ``i18n`` (messages in Vietnamese and English), ``money`` (integer đồng in figures and
  words), ``frozen`` (the frozen dataclass every record type is declared with, and
  ``kept_dataclass`` for the other dataclasses: their generated methods compiled once).

Kept free of imports so that taking a leaf (the clock, say) does not load the wire format.
"""
