package netcl.checkpoint;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;

import netcl.optim.StateDict;

/**
 * The {@code param_groups} entry of a checkpoint's {@code __metadata__}: PyTorch's
 * {@code state_dict()["param_groups"]} as a JSON string, with its field names (lr, momentum,
 * alpha, eps, centered, weight_decay, foreach, maximize, differentiable, capturable, params).
 * Reading requires the fields netcl uses, checks the types of PyTorch's switches that do not
 * change results (foreach, differentiable, capturable) and skips fields it does not know (an LR
 * scheduler's initial_lr).
 */
final class ParamGroupsJson {
    /** One group as a file holds it: options, and the ids of its parameters (PyTorch's numbering). */
    record Group(double lr, double alpha, double eps, double weightDecay, double momentum, boolean centered,
                 boolean maximize, List<Long> ids) {
    }

    private ParamGroupsJson() {
    }

    static String write(List<StateDict.GroupState> groups) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = Json.FACTORY.createGenerator(out)) {
            g.writeStartArray();
            for (StateDict.GroupState s : groups) {
                g.writeStartObject();
                g.writeNumberField("lr", s.lr());
                g.writeNumberField("momentum", s.momentum());
                g.writeNumberField("alpha", s.alpha());
                g.writeNumberField("eps", s.eps());
                g.writeBooleanField("centered", s.centered());
                g.writeNumberField("weight_decay", s.weightDecay());
                g.writeNullField("foreach");
                g.writeBooleanField("maximize", s.maximize());
                g.writeBooleanField("differentiable", false);
                g.writeBooleanField("capturable", false);
                g.writeArrayFieldStart("params");
                for (int id : s.params()) {
                    g.writeNumber(id);
                }
                g.writeEndArray();
                g.writeEndObject();
            }
            g.writeEndArray();
        } catch (IOException e) {
            throw new IllegalStateException("writing JSON to memory failed", e);
        }
        return out.toString();
    }

    static List<Group> parse(Path file, String json) throws CheckpointException {
        List<Group> groups = new ArrayList<>();
        try (JsonParser p = Json.FACTORY.createParser(json)) {
            if (p.nextToken() != JsonToken.START_ARRAY) {
                throw problem(file, "is not a JSON array");
            }
            for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
                if (t != JsonToken.START_OBJECT) {
                    throw problem(file, "group " + groups.size() + " is not a JSON object");
                }
                groups.add(readGroup(file, p, groups.size()));
            }
            if (p.nextToken() != null) {
                throw problem(file, "has more after its JSON array");
            }
        } catch (CheckpointException e) {
            throw e;
        } catch (JsonProcessingException e) {
            throw problem(file, "is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw problem(file, "cannot be parsed: " + e.getMessage());
        }
        return groups;
    }

    private static Group readGroup(Path file, JsonParser p, int index) throws IOException {
        Double lr = null, alpha = null, eps = null, weightDecay = null, momentum = null;
        Boolean centered = null, maximize = null;
        List<Long> ids = null;
        String where = "group " + index + ": ";
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken value = p.nextToken();
            switch (field) {
                case "lr" -> lr = number(file, p, where + field);
                case "alpha" -> alpha = number(file, p, where + field);
                case "eps" -> eps = number(file, p, where + field);
                case "weight_decay" -> weightDecay = number(file, p, where + field);
                case "momentum" -> momentum = number(file, p, where + field);
                case "centered" -> centered = bool(file, p, where + field);
                case "maximize" -> maximize = bool(file, p, where + field);
                case "differentiable", "capturable" -> bool(file, p, where + field);
                case "foreach" -> {
                    if (value != JsonToken.VALUE_NULL) {
                        bool(file, p, where + field);
                    }
                }
                case "params" -> ids = params(file, p, where);
                default -> p.skipChildren();
            }
        }
        String missing = lr == null ? "lr" : alpha == null ? "alpha" : eps == null ? "eps"
                : weightDecay == null ? "weight_decay" : momentum == null ? "momentum" : centered == null ? "centered"
                : maximize == null ? "maximize" : ids == null ? "params" : null;
        if (missing != null) {
            throw problem(file, where + "missing " + missing);
        }
        return new Group(lr, alpha, eps, weightDecay, momentum, centered, maximize, List.copyOf(ids));
    }

    private static double number(Path file, JsonParser p, String what) throws IOException {
        if (!p.currentToken().isNumeric()) {
            throw problem(file, what + " is " + p.getText() + ", not a number");
        }
        return p.getDoubleValue();
    }

    private static boolean bool(Path file, JsonParser p, String what) throws IOException {
        if (!p.currentToken().isBoolean()) {
            throw problem(file, what + " is " + p.getText() + ", not true or false");
        }
        return p.getBooleanValue();
    }

    private static List<Long> params(Path file, JsonParser p, String where) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            throw problem(file, where + "params is not an array");
        }
        List<Long> ids = new ArrayList<>();
        for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
            if (t != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                    || p.getLongValue() < 0) {
                throw problem(file, where + "params holds " + p.getText() + ", not a parameter id (an integer >= 0)");
            }
            ids.add(p.getLongValue());
        }
        return ids;
    }

    private static CheckpointException problem(Path file, String problem) {
        return new CheckpointException(file, "__metadata__ param_groups " + problem);
    }
}
