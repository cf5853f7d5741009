import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface KeyPair {
  cert: string;
  key: string;
}

const OPENSSL = process.env["OPENSSL_BIN"] ?? "openssl";
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function openssl(args: string[], cwd: string): void {
  execFileSync(OPENSSL, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** Makes throwaway CAs and leaf certificates with the openssl CLI in a temp folder. */
export class CertFactory {
  readonly dir = mkdtempSync(path.join(tmpdir(), "tollgate-certs-"));
  private n = 0;

  ca(cn: string): KeyPair {
    const base = path.join(this.dir, `ca-${++this.n}`);
    openssl(["req", "-x509", ...EC, "-keyout", `${base}.key`, "-out", `${base}.crt`, "-days", "2", "-subj", `/CN=${cn}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], this.dir);
    return { cert: `${base}.crt`, key: `${base}.key` };
  }

  /** A leaf signed by ca: a server certificate for localhost/127.0.0.1, or a client certificate. */
  leaf(ca: KeyPair, cn: string, usage: "server" | "client"): KeyPair {
    const base = path.join(this.dir, `leaf-${++this.n}`);
    const ext = usage === "server"
      ? "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
      : "basicConstraints=CA:FALSE\nsubjectAltName=URI:spiffe://tollgate.test/envoy\nextendedKeyUsage=clientAuth\n";
    writeFileSync(`${base}.ext`, ext);
    openssl(["req", ...EC, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${cn}`], this.dir);
    openssl(["x509", "-req", "-in", `${base}.csr`, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", String(1000 + this.n), "-days", "2", "-extfile", `${base}.ext`, "-out", `${base}.crt`], this.dir);
    return { cert: `${base}.crt`, key: `${base}.key` };
  }

  read(file: string): Buffer {
    return readFileSync(file);
  }
}
