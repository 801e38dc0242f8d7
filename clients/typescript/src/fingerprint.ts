/**
 * The machine fingerprint: a per-product hash of the operating system's machine id. The Rust
 * client computes exactly the same value, so one machine holds one seat whichever client an app
 * uses; change nothing here without changing it there.
 *
 * The raw id never leaves the machine: only its salted hash is sent, and it is salted with the
 * product id so that two products cannot correlate their users' machines.
 */

import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { sha256Hex } from "./hashes.js";

/** Where Linux keeps its machine id: systemd's file, then D-Bus's (older or systemd-less systems). */
export const LINUX_MACHINE_ID_PATHS: readonly string[] = [
  "/etc/machine-id",
  "/var/lib/dbus/machine-id",
];

export interface ReadMachineIdOptions {
  /** The platform to read as; defaults to `process.platform`. For tests. */
  platform?: NodeJS.Platform;
  /** The files tried on Linux, in order; defaults to {@link LINUX_MACHINE_ID_PATHS}. For tests. */
  linuxPaths?: readonly string[];
}

/**
 * The lowercase hex SHA-256 of `"gumgate:machine:v1:" + productId + ":" + rawId`, where rawId is
 * the machine id (read from the OS unless given) trimmed of whitespace and lower-cased.
 *
 * Rejects when the machine id cannot be read (an unsupported platform, or a sandbox that hides
 * it): the app can then pass a fingerprint of its own to `GumgateClient`.
 */
export async function machineFingerprint(productId: string, rawMachineId?: string): Promise<string> {
  const raw = rawMachineId ?? (await readMachineId());
  return fingerprintOf(productId, raw);
}

/** The synchronous core of {@link machineFingerprint}, for an id already read. */
export function fingerprintOf(productId: string, rawMachineId: string): string {
  const id = rawMachineId.trim().toLowerCase();
  if (id === "") {
    throw new Error("gumgate: the machine id is empty");
  }
  return sha256Hex(`gumgate:machine:v1:${productId}:${id}`);
}

/**
 * The operating system's machine id, as stored (not yet trimmed or lower-cased):
 * - Linux: the first readable non-empty of `/etc/machine-id`, `/var/lib/dbus/machine-id`;
 * - macOS: `IOPlatformUUID` from `ioreg -rd1 -c IOPlatformExpertDevice`;
 * - Windows: `MachineGuid` under `HKLM\SOFTWARE\Microsoft\Cryptography`, read in the 64-bit
 *   registry view so a 32-bit Node on 64-bit Windows reads the same value as a 64-bit one.
 * Only the Linux path is tested.
 */
export async function readMachineId(options: ReadMachineIdOptions = {}): Promise<string> {
  const platform = options.platform ?? process.platform;
  switch (platform) {
    case "linux":
      return readLinux(options.linuxPaths ?? LINUX_MACHINE_ID_PATHS);
    case "darwin": {
      const out = await run("/usr/sbin/ioreg", ["-rd1", "-c", "IOPlatformExpertDevice"]);
      const m = /"IOPlatformUUID"\s*=\s*"([^"]+)"/.exec(out);
      if (!m?.[1]) throw new Error("gumgate: IOPlatformUUID not found in the output of ioreg");
      return m[1];
    }
    case "win32": {
      const out = await run("reg.exe", [
        "query",
        "HKLM\\SOFTWARE\\Microsoft\\Cryptography",
        "/v",
        "MachineGuid",
        "/reg:64",
      ]);
      // A line like "    MachineGuid    REG_SZ    1b2c...".
      const m = /MachineGuid\s+REG_SZ\s+(\S+)/i.exec(out);
      if (!m?.[1]) throw new Error("gumgate: MachineGuid not found in the output of reg query");
      return m[1];
    }
    default:
      throw new Error(
        `gumgate: no machine id is known on platform ${platform}; pass a fingerprint to GumgateClient`,
      );
  }
}

async function readLinux(paths: readonly string[]): Promise<string> {
  for (const path of paths) {
    try {
      const text = await readFile(path, "utf8");
      // An empty file exists on some images until first boot: go on to the next one.
      if (text.trim() !== "") return text;
    } catch {
      // Missing or unreadable: try the next file.
    }
  }
  throw new Error(`gumgate: no machine id in ${paths.join(" or ")}`);
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 5000, windowsHide: true }, (error, stdout) => {
      if (error) reject(new Error(`gumgate: could not run ${file}: ${error.message}`));
      else resolve(stdout);
    });
  });
}
