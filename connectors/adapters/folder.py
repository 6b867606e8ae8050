"""Write each opened referral as one JSON file into a folder an agency system already watches."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class FolderAdapter:
    """``<folder>/<referral_id>.json``, written atomically (temp file, fsync, rename), mode 0600.

    Writing the same referral twice replaces the file with identical content, so a
    redelivery after a crash never creates a duplicate.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)

    def deliver(self, document: dict[str, Any]) -> None:
        name = str(document["referral_id"])
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError("unexpected referral id")
        target = self.folder / f"{name}.json"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".incoming-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, ensure_ascii=False, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
