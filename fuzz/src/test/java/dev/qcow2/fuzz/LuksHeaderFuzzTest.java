package dev.qcow2.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.crypto.LuksException;
import dev.qcow2.crypto.LuksOptions;
import dev.qcow2.internal.crypto.LuksFormatter;
import dev.qcow2.internal.crypto.LuksHeader;
import java.nio.charset.StandardCharsets;

/**
 * The LUKS1 header of an encrypted image: arbitrary bytes given to its parser, and a valid header
 * (made once, with qemu's minimum 1000 iterations) whose key material is mutated and then unlocked.
 * A typed {@link LuksException} is the only way out.
 */
class LuksHeaderFuzzTest {
  private static final byte[] PASS = "fuzz".getBytes(StandardCharsets.UTF_8);

  private static byte[] valid;

  private static synchronized byte[] valid() throws LuksException {
    if (valid == null) {
      valid =
          LuksFormatter.format(new LuksOptions("aes-128", "xts", "plain64", null, "sha1", 1), PASS)
              .region();
    }
    return valid.clone();
  }

  @FuzzTest(maxDuration = "30s")
  void parseArbitraryLuksHeader(byte[] input) {
    try {
      LuksHeader.parse(input);
    } catch (LuksException expected) {
      // A typed refusal is the right outcome for a bad header.
    }
  }

  /**
   * Mutates the header's fields other than the iteration counts (which would only make the run
   * slow, up to the parser's limit) and the key material, then parses and unlocks.
   */
  @FuzzTest(maxDuration = "30s")
  void unlockMutatedHeader(FuzzedDataProvider data) throws LuksException {
    byte[] region = valid();
    int edits = data.consumeInt(0, 16);
    for (int i = 0; i < edits && data.remainingBytes() > 0; i++) {
      int at = data.consumeInt(0, region.length - 1);
      boolean iterations =
          at >= 164 && at < 168
              || at >= 208 && at < 592 && (at - 208) % 48 >= 4 && (at - 208) % 48 < 8;
      if (!iterations) {
        region[at] = data.consumeByte();
      }
    }
    try {
      LuksHeader.parse(region).unlock(PASS.clone()).destroy();
    } catch (LuksException expected) {
      // Refused as damaged, unsupported, or as a wrong passphrase.
    }
  }
}
