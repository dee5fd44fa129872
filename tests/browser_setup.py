"""Make sure Debian's Chromium is there for the browser tests (CI installs it; a laptop is told how)."""
import os
import shutil
import subprocess
import sys

CHROMIUM = os.environ.get("O2O_CHROMIUM", "/usr/bin/chromium")

if __name__ == "__main__":
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        sys.exit(0)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("Installing Debian's chromium for the browser tests ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    else:
        print(f"note: {CHROMIUM} not found; browser tests will be skipped (install Debian's chromium).")
