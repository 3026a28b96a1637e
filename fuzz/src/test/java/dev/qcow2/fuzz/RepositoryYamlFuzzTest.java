package dev.qcow2.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.core.JsonProcessingException;
import dev.qcow2.tools.cangafile.Cangafile;
import dev.qcow2.tools.cangafile.CangafileException;
import dev.qcow2.tools.repo.RepositoryIndex;
import java.nio.charset.StandardCharsets;

/**
 * The YAML a repository hands us: a remote repository's {@code index.yaml} and a Cangafile. Each
 * parser may only refuse in its documented way ({@link RepositoryIndex#parse}: a {@link
 * JsonProcessingException} or an {@link IllegalArgumentException}; {@link Cangafile#parse}: a
 * {@link CangafileException} naming the line); any other exception, a stack overflow on deep
 * nesting or a hang is a finding.
 */
class RepositoryYamlFuzzTest {

  @FuzzTest(maxDuration = "30s")
  void parseRepositoryIndex(byte[] input) {
    String text = new String(input, StandardCharsets.UTF_8);
    try {
      RepositoryIndex.parse(text);
    } catch (JsonProcessingException | IllegalArgumentException expected) {
      // Not an index: refused as documented.
    }
  }

  @FuzzTest(maxDuration = "30s")
  void parseCangafile(byte[] input) {
    String text = new String(input, StandardCharsets.UTF_8);
    try {
      Cangafile c = Cangafile.parse("fuzz.canga", text);
      c.commandLines();
      c.passwords();
    } catch (CangafileException expected) {
      // Not a Cangafile: refused as documented, naming the line.
    }
  }
}
