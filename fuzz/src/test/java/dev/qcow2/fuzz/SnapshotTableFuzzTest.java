package dev.qcow2.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.qcow2.FuzzAccess;
import dev.qcow2.Qcow2Exception;
import dev.qcow2.Qcow2Image;
import dev.qcow2.Snapshot;
import dev.qcow2.fuzz.SeedImage.Kind;
import java.io.IOException;
import java.nio.file.NoSuchFileException;

/**
 * The snapshot table: seeds with two internal snapshots ({@code qemu-img snapshot -c}) whose {@code
 * nb_snapshots}, {@code snapshots_offset}, entry fields (L1 offset and size, id and name lengths,
 * extra data size and contents), strings and snapshot L1 tables are mutated; then the table listed,
 * the disk read, every snapshot's L1 and L2 tables walked, and every snapshot read.
 */
class SnapshotTableFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void openSeedWithMutatedSnapshotTable(FuzzedDataProvider data) throws IOException {
    if (data.remainingBytes() == 0) {
      for (SeedImage seed : Seeds.named("snapshots")) {
        try (Qcow2Image image = Images.open(seed.bytes(), Images.READ)) {
          assertEquals(2, image.snapshots().size(), seed.name());
          Images.readAll(image);
          FuzzAccess.walkReferences(image);
          readSnapshots(seed.bytes(), image);
        }
      }
      return;
    }
    SeedImage seed = Mutator.pick(data, Seeds.named("snapshots"));
    byte[] bytes = Mutator.mutate(data, seed, Kind.SNAPSHOT_TABLE, Kind.SNAPSHOT_L1);
    try (Qcow2Image image = Images.open(bytes, Images.READ)) {
      image.snapshots();
      Images.readAll(image);
      FuzzAccess.walkReferences(image);
      readSnapshots(bytes, image);
    } catch (Qcow2Exception | NoSuchFileException expected) {
      // A typed refusal is the right outcome for a bad table.
    }
  }

  /**
   * Reads every snapshot of {@code image} (whose file holds {@code bytes}) as qemu-img convert -l
   * does.
   */
  private static void readSnapshots(byte[] bytes, Qcow2Image image) throws IOException {
    for (Snapshot s : image.snapshots()) {
      try (Qcow2Image view =
          Images.open(bytes, Images.READ.toBuilder().snapshot(s.id(), s.name()).build())) {
        Images.readAll(view);
      }
    }
  }
}
