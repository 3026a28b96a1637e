package dev.qcow2.internal.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qcow2.crypto.LuksAmendOptions;
import dev.qcow2.crypto.LuksException;
import dev.qcow2.crypto.LuksOptions;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The order in which key slot changes reach the header region: new key material is durable before
 * the header turns its slot on, and an erased slot is off (durably) before its material is
 * overwritten; each step, replayed alone onto the region as it was, leaves a header that opens as
 * before or as after.
 */
@Timeout(60)
class LuksKeyslotsTest {
  private static final byte[] OLD = "old pass".getBytes(StandardCharsets.UTF_8);
  private static final byte[] NEW = "new pass".getBytes(StandardCharsets.UTF_8);

  /** Records each write and flush, and applies them to a copy of the region. */
  private static final class Recorder implements LuksKeyslots.RegionWriter {
    final byte[] region;
    final List<String> ops = new ArrayList<>();
    final List<byte[]> durable = new ArrayList<>();

    Recorder(byte[] region) {
      this.region = region.clone();
    }

    @Override
    public void write(int at, byte[] bytes, int from, int length) {
      System.arraycopy(bytes, from, region, at, length);
      ops.add(at == 0 ? "header" : "material");
    }

    @Override
    public void flush() {
      ops.add("flush");
      durable.add(region.clone());
    }
  }

  private static byte[] formatted() throws LuksException {
    LuksFormatter.Formatted f =
        LuksFormatter.format(new LuksOptions("aes-256", "xts", "plain64", null, "sha256", 1), OLD);
    f.cipher().destroy();
    return f.region();
  }

  private static LuksAmendOptions add(Integer slot) {
    LuksAmendOptions.Builder b =
        LuksAmendOptions.builder()
            .state(LuksAmendOptions.State.ACTIVE)
            .newSecret(NEW)
            .iterTimeMillis(0);
    if (slot != null) {
      b.keyslot(slot);
    }
    return b.build();
  }

  @Test
  void a_new_slot_is_on_only_after_its_material_is_durable() throws Exception {
    byte[] region = formatted();
    Recorder r = new Recorder(region);
    LuksKeyslots.amend(LuksHeader.parse(region.clone()), add(null), OLD, false, r);
    assertEquals(List.of("material", "flush", "header", "flush"), r.ops);
    // After the first flush the header is the old one: slot 1 off, the old passphrase opens.
    LuksHeader mid = LuksHeader.parse(r.durable.get(0));
    assertFalse(mid.slots.get(1).active());
    assertThrows(LuksException.class, () -> mid.unlock(NEW));
    mid.unlock(OLD).destroy();
    LuksHeader after = LuksHeader.parse(r.region);
    assertTrue(after.slots.get(1).active());
    assertEquals(LuksFormatter.MIN_ITERATIONS, after.slots.get(1).iterations());
    byte[] a = after.masterKey(NEW);
    byte[] b = after.masterKey(OLD);
    assertArrayEquals(a, b);
    assertArrayEquals(b, LuksHeader.parse(region).masterKey(OLD));
  }

  @Test
  void an_erased_slot_is_off_before_its_material_is_overwritten() throws Exception {
    byte[] region = formatted();
    Recorder added = new Recorder(region);
    LuksKeyslots.amend(LuksHeader.parse(region.clone()), add(4), OLD, false, added);
    byte[] two = added.region;
    LuksAmendOptions erase =
        LuksAmendOptions.builder().state(LuksAmendOptions.State.INACTIVE).oldSecret(OLD).build();
    Recorder r = new Recorder(two);
    LuksKeyslots.amend(LuksHeader.parse(two.clone()), erase, NEW, false, r);
    List<String> expected = new ArrayList<>(List.of("header", "flush"));
    expected.addAll(java.util.Collections.nCopies(LuksKeyslots.ERASE_PASSES, "material"));
    expected.add("flush");
    assertEquals(expected, r.ops);
    LuksHeader mid = LuksHeader.parse(r.durable.get(0));
    assertFalse(mid.slots.get(0).active());
    assertThrows(LuksException.class, () -> mid.unlock(OLD));
    // The header is off while the old material still lies there; the end state has it wiped.
    LuksHeader.KeySlot s = mid.slots.get(0);
    int at = (int) s.materialAt();
    int len = mid.keyBytes * s.stripes();
    assertArrayEquals(
        Arrays.copyOfRange(two, at, at + len), Arrays.copyOfRange(r.durable.get(0), at, at + len));
    assertFalse(
        Arrays.equals(
            Arrays.copyOfRange(two, at, at + len), Arrays.copyOfRange(r.region, at, at + len)));
    LuksHeader after = LuksHeader.parse(r.region);
    assertEquals(0, after.slots.get(0).iterations());
    assertArrayEquals(new byte[LuksHeader.SALT_LENGTH], after.slots.get(0).salt());
    assertNotNull(after.unlock(NEW));
  }

  @Test
  void the_options_hand_their_secrets_over_and_wipe_them() {
    byte[] pass = "p".getBytes(StandardCharsets.UTF_8);
    LuksAmendOptions.Builder b = LuksAmendOptions.builder().newSecret(pass);
    LuksAmendOptions o = b.build();
    assertArrayEquals(pass, o.newSecret());
    assertEquals(null, b.build().newSecret());
    o.destroy();
    assertTrue(o.isDestroyed());
    assertEquals(null, o.newSecret());
    assertThrows(
        IllegalArgumentException.class, () -> LuksAmendOptions.builder().iterTimeMillis(-1));
  }
}
