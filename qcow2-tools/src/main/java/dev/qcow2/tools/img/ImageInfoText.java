package dev.qcow2.tools.img;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qcow2.ImageInfo;
import dev.qcow2.Snapshot;
import dev.qcow2.tools.cli.JsonOutput;
import dev.qcow2.tools.cli.Sizes;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;

/** {@link ImageInfo} in qemu-img 7.2's human format ({@code bdrv_image_info_dump}). */
final class ImageInfoText {
  private static final DateTimeFormatter DATE =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT);

  private ImageInfoText() {}

  static String of(ImageInfo info, ZoneId zone) {
    StringBuilder sb = new StringBuilder();
    sb.append("image: ").append(info.filename()).append('\n');
    sb.append("file format: ").append(info.format()).append('\n');
    sb.append("virtual size: ")
        .append(Sizes.toHuman(info.virtualSize()))
        .append(" (")
        .append(info.virtualSize())
        .append(" bytes)\n");
    sb.append("disk size: ")
        .append(info.actualSize() >= 0 ? Sizes.toHuman(info.actualSize()) : "unavailable")
        .append('\n');
    if (info.encryptFormat() != null) {
      sb.append("encrypted: yes\n");
    }
    if (info.clusterSize() != 0) {
      sb.append("cluster_size: ").append(info.clusterSize()).append('\n');
    }
    if (info.dirty()) {
      sb.append("cleanly shut down: no\n");
    }
    if (info.backingFilename() != null) {
      sb.append("backing file: ").append(info.backingFilename());
      if (info.fullBackingFilename() == null) {
        sb.append(" (cannot determine actual path)");
      } else if (!info.backingFilename().equals(info.fullBackingFilename())) {
        sb.append(" (actual path: ").append(info.fullBackingFilename()).append(')');
      }
      sb.append('\n');
      if (info.backingFormat() != null) {
        sb.append("backing file format: ").append(info.backingFormat()).append('\n');
      }
    }
    if (!info.snapshots().isEmpty()) {
      snapshotList(sb, info.snapshots(), zone);
    }
    if (info.isQcow2()) {
      sb.append("Format specific information:\n");
      ObjectNode spec = ImageInfoJson.of(info);
      dump(sb, spec.get("format-specific").get("data"), 1);
    }
    return sb.toString();
  }

  /** qemu's "Snapshot list:" table, as info and snapshot -l print it. */
  static void snapshotList(StringBuilder sb, java.util.List<Snapshot> snapshots, ZoneId zone) {
    sb.append("Snapshot list:\n");
    sb.append(
            String.format(
                Locale.ROOT,
                "%-10s%-17s%8s%20s%13s%11s",
                "ID",
                "TAG",
                "VM SIZE",
                "DATE",
                "VM CLOCK",
                "ICOUNT"))
        .append('\n');
    for (Snapshot s : snapshots) {
      snapshotLine(sb, s, zone);
    }
  }

  /** One row of qemu's {@code bdrv_snapshot_dump}; the date is in local time, as qemu's. */
  private static void snapshotLine(StringBuilder sb, Snapshot s, ZoneId zone) {
    long clock = s.vmClockNanos();
    long secs = clock / 1_000_000_000L;
    String clockText =
        String.format(
            Locale.ROOT,
            "%02d:%02d:%02d.%03d",
            (int) (secs / 3600),
            (int) ((secs / 60) % 60),
            (int) (secs % 60),
            (int) ((clock / 1_000_000L) % 1000));
    String date = DATE.format(Instant.ofEpochSecond(s.dateSeconds()).atZone(zone));
    String icount = s.icount() != -1 ? Long.toString(s.icount()) : "";
    sb.append(padBytes(s.id(), 9))
        .append(' ')
        .append(padBytes(s.name(), 16))
        .append(' ')
        .append(
            String.format(
                Locale.ROOT,
                "%8s%20s%13s%11s",
                Sizes.toHuman(s.vmStateSize()),
                date,
                clockText,
                icount))
        .append('\n');
  }

  /** C's {@code %-Ns}: pads to N bytes of UTF-8, not N characters. */
  private static String padBytes(String s, int width) {
    int bytes = s.getBytes(StandardCharsets.UTF_8).length;
    return bytes >= width ? s : s + " ".repeat(width - bytes);
  }

  /**
   * qemu's {@code dump_qobject}: dictionary keys in hash order with dashes shown as spaces, list
   * items as {@code [i]:}, composite values on the following lines one level deeper.
   */
  private static void dump(StringBuilder sb, JsonNode node, int indent) {
    if (node.isObject()) {
      for (Map.Entry<String, JsonNode> e : JsonOutput.qdictEntries(node)) {
        line(sb, indent, e.getKey().replace('-', ' '), e.getValue());
      }
    } else if (node.isArray()) {
      int i = 0;
      for (JsonNode element : node) {
        line(sb, indent, "[" + i++ + "]", element);
      }
    } else {
      sb.append(node.asText());
    }
  }

  private static void line(StringBuilder sb, int indent, String label, JsonNode value) {
    boolean composite = value.isContainerNode();
    sb.append(" ".repeat(indent * 4)).append(label).append(':').append(composite ? '\n' : ' ');
    dump(sb, value, indent + 1);
    if (!composite) {
      sb.append('\n');
    }
  }
}
