/**
 * The size of each MQTT packet a DAS connection sends, read from its fixed headers as the bytes arrive (MQTT 3.1.1
 * §2.2: a type byte, then the remaining length in 1 to 4 bytes of 7 bits). aedes buffers a whole packet before its
 * hooks see it and sets no limit; this sees the announced length first, so a device announcing a packet above the
 * cap is closed before the packet is read (decision 0027).
 */
export class PacketSizeGuard {
  private inHeader = false;
  private headerBytes = 0;
  private length = 0;
  private multiplier = 1;
  /** Bytes of the current packet's body still to pass. */
  private skip = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** The next bytes of the connection; false at the first packet announced above the cap, or a malformed length. */
  feed(chunk: Uint8Array): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++]!;
      if (!this.inHeader) {
        this.inHeader = true;
        this.headerBytes = 1;
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.headerBytes += 1;
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (byte & 0x80) {
        if (this.headerBytes >= 5) return false;
        continue;
      }
      if (this.headerBytes + this.length > this.maxPacketBytes) return false;
      this.inHeader = false;
      this.skip = this.length;
    }
    return true;
  }
}
