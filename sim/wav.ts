/** The format of every simulated recording: 16-bit PCM, mono, 16 kHz (what Teams media uses). */
export const WAV_SAMPLE_RATE = 16000;
const BITS_PER_SAMPLE = 16;
const CHANNELS = 1;
const HEADER_BYTES = 44;

/** A RIFF/WAVE file holding `seconds` of a quiet 440 Hz tone standing in for the caller's voice. */
export function makeWav(seconds: number): Buffer {
  const samples = Math.max(0, Math.round(seconds * WAV_SAMPLE_RATE));
  const blockAlign = (CHANNELS * BITS_PER_SAMPLE) / 8;
  const dataBytes = samples * blockAlign;
  const buf = Buffer.alloc(HEADER_BYTES + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16); // fmt chunk size
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(CHANNELS, 22);
  buf.writeUInt32LE(WAV_SAMPLE_RATE, 24);
  buf.writeUInt32LE(WAV_SAMPLE_RATE * blockAlign, 28); // byte rate
  buf.writeUInt16LE(blockAlign, 32);
  buf.writeUInt16LE(BITS_PER_SAMPLE, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  const amplitude = 0.05 * 32767;
  for (let i = 0; i < samples; i++) {
    buf.writeInt16LE(
      Math.round(amplitude * Math.sin((2 * Math.PI * 440 * i) / WAV_SAMPLE_RATE)),
      HEADER_BYTES + i * 2,
    );
  }
  return buf;
}
