"""The practice's directories, imported from its software and kept in the outbox: its patients
(`patients`, for identitovigilance) and its correspondents (`correspondents`, the address book),
with today's appointments (`appointments`). Dictated names are matched against them by spelling
and sound (`names`)."""
