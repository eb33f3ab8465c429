"""The device's storage: records (records.RecordStore, on journal.py's segments), the audit log,
the boot counter, the provisioned secrets.  What the rest of the firmware catches is here."""


class StoreError(Exception):
    pass


class StoreFull(StoreError):
    pass
