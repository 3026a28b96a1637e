package dev.qcow2.tools.cangafile;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.CreateOptions;
import dev.qcow2.DiskImage;
import dev.qcow2.OpenOptions;
import dev.qcow2.Qcow2Image;
import dev.qcow2.tools.repo.CangaException;
import dev.qcow2.tools.repo.Repositories;
import dev.qcow2.tools.repo.Repository;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Builds a derived image from a {@link Cangafile}, as Cangallo's {@code build}: prints the rendered
 * commands; makes a temporary qcow2 overlay on the parent inside the parent's repository; lets
 * {@link GuestCustomizer} apply the tasks in the guest; then stores the overlay as a compressed
 * delta on the parent, which writes only the clusters that differ from the parent (this is the
 * sparsify step: clusters the guest zeroed are not stored when the parent reads zeros there), with
 * {@code parent}, {@code description}, {@code os} and {@code cangafile} recorded; and finally
 * removes the overlay and sets the tag.
 */
public final class CangafileBuilder {
  private final Repositories repos;
  private final GuestCustomizer customizer;
  private final PrintStream out;
  private final PrintStream err;

  public CangafileBuilder(
      Repositories repos, GuestCustomizer customizer, PrintStream out, PrintStream err) {
    this.repos = repos;
    this.customizer = customizer;
    this.out = out;
    this.err = err;
  }

  /**
   * Builds {@code cangafile} and returns the new image's sha256.
   *
   * @param fileName the Cangafile's file name (names the temporary overlay)
   * @param tag the tag to set instead of the Cangafile's own, or null
   * @throws CangaException if the parent is missing or virt-customize fails
   */
  public String build(Cangafile cangafile, String fileName, String tag) throws IOException {
    for (String line : cangafile.commandLines()) {
      out.print(line + "\n");
    }
    out.flush();
    String finalTag = tag != null ? tag : cangafile.tag();
    if (finalTag != null && finalTag.contains(":")) {
      throw new CangaException("Tag name \"" + finalTag + "\" must not contain ':'");
    }
    Repositories.Found parent = repos.find(cangafile.parent());
    if (parent == null) {
      throw new CangaException("Image not found");
    }
    Repository repo = parent.repo();
    Path parentPath = repo.imagePath(parent.sha256()).toAbsolutePath();
    if (!Files.exists(parentPath)) {
      throw new CangaException(
          "The file of " + parent.displayName() + " is not here; pull it first");
    }
    Path overlay =
        repo.dir()
            .resolve(
                fileName
                    + LocalDate.now().format(DateTimeFormatter.BASIC_ISO_DATE)
                    + "-"
                    + ProcessHandle.current().pid()
                    + "-"
                    + Long.toString(ThreadLocalRandom.current().nextLong() >>> 1, 36)
                    + ".qcow2");
    try {
      createOverlay(parentPath, overlay);
      int status = customizer.customize(overlay, cangafile, out, err);
      if (status != 0) {
        throw new CangaException("virt-customize failed with exit status " + status);
      }
      ObjectNode metadata = JsonNodeFactory.instance.objectNode();
      metadata.put("description", cangafile.description());
      metadata.put("os", cangafile.os());
      metadata.set("cangafile", cangafile.indexData());
      return repo.addImage(
          new Repository.AddRequest(overlay, parent.sha256(), false, metadata, finalTag), out);
    } finally {
      if (Files.exists(overlay)) {
        out.print("Deleting temporary image\n");
        out.flush();
        Files.deleteIfExists(overlay);
      }
    }
  }

  /**
   * A qcow2 overlay on {@code parent} (absolute backing path, detected format), as large as its
   * disk.
   */
  public static void createOverlay(Path parent, Path overlay) throws IOException {
    long size;
    String format;
    try (DiskImage p = DiskImage.open(parent, OpenOptions.builder().openBacking(false).build())) {
      size = p.size();
      format = p.format();
    }
    CreateOptions options =
        CreateOptions.builder(size).backingFile(parent.toAbsolutePath().toString(), format).build();
    Qcow2Image.create(overlay, options).close();
  }
}
