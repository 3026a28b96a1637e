package dev.qcow2.fuzz;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * The valid qemu-made images that the structured targets mutate, loaded once from {@code
 * seeds/*.qcow2.gz} (made by {@code fuzz/make-corpus.sh}). Each is mapped into its structures by
 * {@link SeedImage} before any mutation, so that mutations land on real fields.
 */
final class Seeds {
  private static final List<SeedImage> ALL = load();

  private Seeds() {}

  static List<SeedImage> all() {
    return ALL;
  }

  /** The seeds whose name contains {@code part} (e.g. "snapshots"). */
  static List<SeedImage> named(String part) {
    List<SeedImage> list = new ArrayList<>();
    for (SeedImage s : ALL) {
      if (s.name().contains(part)) {
        list.add(s);
      }
    }
    if (list.isEmpty()) {
      throw new IllegalStateException(
          "no seed image named *" + part + "*: run fuzz/make-corpus.sh");
    }
    return List.copyOf(list);
  }

  private static List<SeedImage> load() {
    List<SeedImage> list = new ArrayList<>();
    try (InputStream index = Seeds.class.getResourceAsStream("seeds/index.txt")) {
      if (index == null) {
        throw new IllegalStateException("seeds/index.txt is missing: run fuzz/make-corpus.sh");
      }
      BufferedReader lines =
          new BufferedReader(new InputStreamReader(index, StandardCharsets.UTF_8));
      for (String name; (name = lines.readLine()) != null; ) {
        if (name.isBlank()) {
          continue;
        }
        try (InputStream in =
            new GZIPInputStream(Seeds.class.getResourceAsStream("seeds/" + name + ".gz"))) {
          list.add(SeedImage.map(name, in.readAllBytes()));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return List.copyOf(list);
  }
}
