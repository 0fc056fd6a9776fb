// A ByteSource is where an image's bytes come from, whatever the transport: the HTTP Range
// downloader and ThingsBoard's MQTT chunks both implement it, and the transfer loop is written once.

export interface ByteStream {
  /**
   * Offset of the first byte this stream delivers. It equals the requested offset, or 0 when the
   * server cannot resume (HTTP 200 to a Range request): the caller then restarts from zero.
   */
  readonly offset: number;
  /** Next bytes, or null when the source has delivered everything it will. */
  read(): Promise<Uint8Array | null>;
  close(): void;
}

export interface ByteSource {
  /** Opens the image at `offset`. Rejects with an OtaError (transient or fatal). */
  open(offset: number): Promise<ByteStream>;
  /**
   * Called before the transfer journals `offset` (a sector boundary the source's bytes reached),
   * for a source that must store state of its own to resume there (a delta's applier).
   */
  checkpoint?(offset: number): Promise<void>;
}
