"""What the Doorstep server and its tablet clients must agree on, byte for byte.

Standard library only, and nothing from the server: the server imports these facts from here, the
reference client (``doorstep_client``) imports them from here, and the JSON files in ``vectors/``
pin them down for any other client (the Android app, a future JavaScript one) to test against.
A change here is a protocol change: the vectors change with it, and both sides' tests notice.
"""
